# Run from the repository root.
import json
import sys
import time

import numpy as np

import ppo_jax
from ppo_jax import networks

gain = float(sys.argv[1])
obsnorm = sys.argv[2] == "1"
networks.ActorCritic.ACTOR_OUT_GAIN = gain
base = ppo_jax.preset("MountainCar-v0", total_timesteps=499_712, learning_rate=2.5e-3,
                      normalize_observations=obsnorm)
t = time.time()
res = ppo_jax.sweep(base, {"ent_coef": [0.0, 0.003]}, num_seeds=4, seed=0)
finals = res.final_returns()
print(json.dumps({"gain": gain, "obsnorm": obsnorm, "wall_s": round(time.time() - t, 1),
                  "finals": np.round(finals, 1).tolist()}))
er = res.metrics["episode_return"]
for c in range(er.shape[0]):
    hit = [int(np.argmax(er[c, s] > -199.9)) if np.any(er[c, s] > -199.9) else -1 for s in range(er.shape[1])]
    frac = [float(np.mean(er[c, s][~np.isnan(er[c, s])] > -199.9)) for s in range(er.shape[1])]
    print("config", c, "first flag update per seed:", hit, "fraction of updates with a flag:",
          np.round(frac, 2).tolist())
