"""Probe environments: tiny gymnax envs whose right answer is known in closed form.

Each isolates one part of the algorithm (value bootstrapping on truncation,
observation-dependent values, policy improvement) so that a failure points at
it, in seconds rather than a full learning run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from conftest import jit_fast
from flax import struct
from gymnax.environments import environment, spaces

import ppo_jax


@struct.dataclass
class ProbeState(environment.EnvState):
    """time: steps taken this episode; obs: the current observation [1]."""

    obs: jax.Array


@struct.dataclass
class ProbeParams(environment.EnvParams):
    max_steps_in_episode: int = 1


class ProbeEnv(environment.Environment):
    """Shared plumbing: a 1-d observation kept in the state, two actions."""

    def __init__(self, max_steps_in_episode: int = 1):
        super().__init__()
        self.max_steps_in_episode = max_steps_in_episode

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams(max_steps_in_episode=self.max_steps_in_episode)

    def new_obs(self, key: jax.Array) -> jax.Array:
        return jnp.ones((1,), jnp.float32)

    def reward(self, state: ProbeState, action) -> jax.Array:
        raise NotImplementedError

    terminates = False

    def step_env(self, key, state, action, params):
        reward = jnp.asarray(self.reward(state, action), jnp.float32)
        next_state = ProbeState(time=state.time + 1, obs=self.new_obs(key))
        terminated = jnp.asarray(self.terminates)
        return self.get_obs(next_state), next_state, reward, terminated, {}

    def reset_env(self, key, params):
        state = ProbeState(time=jnp.zeros((), jnp.int32), obs=self.new_obs(key))
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return state.obs

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def action_space(self, params):
        return spaces.Discrete(2)

    @property
    def num_actions(self) -> int:
        return 2


class ConstantRewardEnv(ProbeEnv):
    """Reward 1 every step, never terminates, truncated after max_steps_in_episode.

    With truncation bootstrapped, V(s) = 1 / (1 - gamma) everywhere; treating
    the time limit as termination would drag it towards the finite-horizon return.
    """

    def reward(self, state, action):
        return 1.0


class ObservationRewardEnv(ProbeEnv):
    """Observation +1 or -1 at random, reward = observation, one step, terminated.

    V(+1) = 1, V(-1) = -1.
    """

    terminates = True

    def new_obs(self, key):
        return jnp.where(jax.random.bernoulli(key), 1.0, -1.0) * jnp.ones((1,), jnp.float32)

    def reward(self, state, action):
        return state.obs[0]


class OneStepChoiceEnv(ProbeEnv):
    """One step, two actions: reward 1 for action 1, 0 for action 0; terminated."""

    terminates = True

    def reward(self, state, action):
        return jnp.where(action == 1, 1.0, 0.0)


def _train(env, *, num_updates, gamma=0.99, **hparams):
    config = ppo_jax.PPOConfig(
        total_timesteps=num_updates * 8 * 32,
        num_envs=8,
        num_steps=32,
        num_minibatches=4,
        update_epochs=4,
        hidden_sizes=(32,),
        anneal_lr=False,
        clip_value_loss=False,
        hparams=ppo_jax.HParams(gamma=gamma, learning_rate=3e-3, **hparams),
    )
    train = jit_fast(ppo_jax.make_train(config, env=env))
    out = train(jax.random.key(0))
    return config, out


def test_probe_envs_follow_the_gymnax_api():
    env = ConstantRewardEnv(max_steps_in_episode=3)
    obs, state = env.reset(jax.random.key(0))
    terminated = truncated = False
    for t in range(3):
        obs, state, reward, terminated, truncated, info = env.step(jax.random.key(t), state, 0)
        assert float(reward) == 1.0 and not bool(terminated)
    assert bool(truncated) and int(state.time) == 0  # auto-reset after the time limit
    assert "final_observation" in info

    env = ObservationRewardEnv()
    obs, state = env.reset(jax.random.key(1))
    _, _, reward, terminated, _, _ = env.step(jax.random.key(2), state, 0)
    assert float(reward) == float(obs[0]) and bool(terminated)


def test_constant_reward_value_bootstraps_through_truncation():
    gamma = 0.9
    env = ConstantRewardEnv(max_steps_in_episode=16)
    config, out = _train(env, num_updates=20, gamma=gamma, ent_coef=0.0)
    value = ppo_jax.make_value_fn(config, out.state, env=env)
    v = float(value(jnp.ones((1,), jnp.float32)))
    target = 1.0 / (1.0 - gamma)  # 10; a time limit treated as termination gives ~6
    assert abs(v - target) < 0.1 * target, v


def test_observation_dependent_value():
    env = ObservationRewardEnv()
    config, out = _train(env, num_updates=20, ent_coef=0.0)
    value = jax.vmap(ppo_jax.make_value_fn(config, out.state, env=env))
    v = np.asarray(value(jnp.array([[1.0], [-1.0]], jnp.float32)))
    np.testing.assert_allclose(v, [1.0, -1.0], atol=0.1)


def test_one_step_choice_picks_the_rewarded_action():
    env = OneStepChoiceEnv()
    config, out = _train(env, num_updates=20, ent_coef=0.0)
    obs = jnp.ones((1,), jnp.float32)
    greedy = ppo_jax.make_policy(config, out.state, deterministic=True, env=env)
    assert int(greedy(jax.random.key(0), obs)) == 1
    # not a coin flip: the stochastic policy picks action 1 almost always
    sample = jax.vmap(ppo_jax.make_policy(config, out.state, env=env), in_axes=(0, None))
    actions = np.asarray(sample(jax.random.split(jax.random.key(1), 500), obs))
    assert actions.mean() > 0.9
