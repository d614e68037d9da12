# Run from the repository root.
"""MountainCar-v0: does a non-uniform initial policy (actor output gain 1 instead of 0.01) reach the flag?"""
import json
import sys
import time

import numpy as np

import ppo_jax
from ppo_jax import networks

gain = float(sys.argv[1])
networks.ActorCritic.ACTOR_OUT_GAIN = gain
base = ppo_jax.preset("MountainCar-v0", total_timesteps=499_712, ent_coef=0.003)
t = time.time()
res = ppo_jax.sweep(base, {"learning_rate": [2.5e-3, 5e-3]}, num_seeds=4, seed=0)
finals = res.final_returns()
print(json.dumps({"gain": gain, "wall_s": round(time.time() - t, 1), "finals": np.round(finals, 1).tolist()}))
er = res.metrics["episode_return"]  # [C, S, U]
for c in range(er.shape[0]):
    # first update where any seed's mean episode return beats -200 (reached the flag)
    hit = [int(np.argmax(er[c, s] > -199.9)) if np.any(er[c, s] > -199.9) else -1 for s in range(er.shape[1])]
    print("config", c, "first update with a flag episode per seed:", hit, "of", er.shape[2])
