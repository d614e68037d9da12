"""The env adapter, the rollout and the values it bootstraps from, on scripted envs.

ClockEnv's observation is the time within the episode, so an episode's final
observation ([k]) differs from the reset one ([0]): a rollout that bootstrapped
a truncated step from the post-reset observation would fail here. Every
expected value is computed with plain numpy loops over what was recorded.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

import ppo_jax
from ppo_jax.core.context import make_context
from ppo_jax.core.iteration import episode_metrics, explained_variance
from ppo_jax.core.normalize import init_reward_scaler, init_running_stats
from ppo_jax.core.rollout import (
    EpisodeTally,
    RolloutCarry,
    bootstrap_values,
    collect_rollout,
)
from ppo_jax.core.types import Transition
from ppo_jax.networks.feedforward import ActorCritic


@struct.dataclass
class ClockState(environment.EnvState):
    pass


@struct.dataclass
class ClockParams(environment.EnvParams):
    max_steps_in_episode: int = 3


class ClockEnv(environment.Environment):
    """obs [time within the episode]; reward time + 1 (after the step).

    Truncated by gymnax's time limit (max_steps_in_episode); with
    `terminate_on_action`, action 1 terminates the episode from time >= 1 on.
    """

    def __init__(self, max_steps: int = 3, terminate_on_action: bool = False):
        super().__init__()
        self.max_steps = max_steps
        self.terminate_on_action = terminate_on_action

    @property
    def default_params(self) -> ClockParams:
        return ClockParams(max_steps_in_episode=self.max_steps)

    def step_env(self, key, state, action, params):
        time = state.time + 1
        terminated = jnp.asarray(False)
        if self.terminate_on_action:
            terminated = (action == 1) & (time >= 2)
        next_state = ClockState(time=time)
        return self.get_obs(next_state), next_state, time.astype(jnp.float32), terminated, {}

    def reset_env(self, key, params):
        state = ClockState(time=jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return state.time.astype(jnp.float32)[None]

    def observation_space(self, params):
        return spaces.Box(0.0, 100.0, (1,), jnp.float32)

    def action_space(self, params):
        return spaces.Discrete(2)


class EchoEnv(environment.Environment):
    """Box actions in [-0.5, 0.5]^2; the observation is the action the env received."""

    @property
    def default_params(self) -> ClockParams:
        return ClockParams(max_steps_in_episode=1000)

    def step_env(self, key, state, action, params):
        next_state = ClockState(time=state.time + 1)
        return action.astype(jnp.float32), next_state, jnp.zeros(()), jnp.asarray(False), {}

    def reset_env(self, key, params):
        return jnp.zeros((2,), jnp.float32), ClockState(time=jnp.zeros((), jnp.int32))

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def action_space(self, params):
        return spaces.Box(-0.5, 0.5, (2,), jnp.float32)


def tiny(env, num_envs=2, num_steps=7, **overrides):
    config = ppo_jax.PPOConfig(total_timesteps=num_envs * num_steps, num_envs=num_envs,
                               num_steps=num_steps, num_minibatches=1, hidden_sizes=(8,),
                               **overrides)
    return config, make_context(config, env=env)


def start_carry(ctx, key) -> RolloutCarry:
    state = ppo_jax.make_trainer(ctx.config, env=ctx.adapter.env).init(key)
    return state, RolloutCarry(state.env_state, state.obs, init_running_stats((ctx.adapter.spec.obs_dim,)),
                               init_reward_scaler(ctx.config.num_envs), EpisodeTally.zeros())


def rollout(ctx, params, carry, key):
    return jax.jit(lambda c, k: collect_rollout(
        c, k, adapter=ctx.adapter, network=ctx.network, params=params, gamma=0.99,
        num_steps=ctx.config.num_steps, normalize_observations=False, normalize_rewards=False,
    ))(carry, key)


# ---------------------------------------------------------------- adapter ---


def test_adapter_reports_the_final_observation_and_the_episode_totals():
    _, ctx = tiny(ClockEnv(max_steps=3))
    adapter = ctx.adapter
    obs, state = adapter.reset(jax.random.key(0))
    rewards = []
    for t in range(3):
        step = adapter.step(jax.random.key(t + 1), state, jnp.asarray(0))
        rewards.append(float(step.reward))
        state = step.state
    assert rewards == [1.0, 2.0, 3.0]
    assert bool(step.truncated) and not bool(step.terminated)
    np.testing.assert_array_equal(step.final_obs, [3.0])  # the time limit's state, not the reset
    np.testing.assert_array_equal(step.obs, [0.0])  # auto-reset
    assert float(step.episode_return) == 6.0 and int(step.episode_length) == 3
    assert float(step.state.episode_return) == 0.0 and int(step.state.episode_length) == 0


def test_adapter_keeps_running_totals_mid_episode():
    _, ctx = tiny(ClockEnv(max_steps=5))
    _, state = ctx.adapter.reset(jax.random.key(0))
    step = ctx.adapter.step(jax.random.key(1), state, jnp.asarray(0))
    step = ctx.adapter.step(jax.random.key(2), step.state, jnp.asarray(0))
    assert float(step.state.episode_return) == 3.0 and int(step.state.episode_length) == 2
    assert float(step.episode_return) == 0.0 and int(step.episode_length) == 0  # none ended
    np.testing.assert_array_equal(step.obs, step.final_obs)


# ------------------------------------------------------- bootstrap values ---


def reference_next_values(traj, last_obs, value_of) -> np.ndarray:
    """V(s'_t) by a plain loop: the final observation where truncated, else the next obs."""
    obs, next_obs = np.asarray(traj.obs), np.asarray(traj.next_obs)
    done, terminated = np.asarray(traj.done), np.asarray(traj.terminated)
    num_steps, num_envs = done.shape
    out = np.zeros((num_steps, num_envs))
    for t in range(num_steps):
        for b in range(num_envs):
            if done[t, b] and not terminated[t, b]:
                out[t, b] = value_of(next_obs[t, b])
            elif t + 1 < num_steps:
                out[t, b] = value_of(obs[t + 1, b])
            else:
                out[t, b] = value_of(np.asarray(last_obs)[b])
    return out


@pytest.mark.parametrize("max_steps", [3, 1], ids=["some-truncated", "all-truncated"])
def test_truncated_steps_bootstrap_from_the_final_observation(max_steps):
    """max_steps=1 truncates all T * B steps: several passes of the B-row loop."""
    config, ctx = tiny(ClockEnv(max_steps=max_steps))
    state, carry = start_carry(ctx, jax.random.key(0))
    carry, traj = rollout(ctx, state.params, carry, jax.random.key(1))
    value_fn = lambda o: ctx.network.apply(state.params, o, method=ActorCritic.value)
    got = jax.jit(lambda tr, o: bootstrap_values(tr, value_fn(o), value_fn))(traj, carry.obs)

    value_of = lambda o: float(value_fn(jnp.asarray(o)[None])[0])
    expected = reference_next_values(traj, carry.obs, value_of)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    truncated = np.asarray(traj.done & ~traj.terminated)
    assert truncated.sum() == (14 if max_steps == 1 else 4)
    np.testing.assert_array_equal(np.asarray(traj.next_obs)[truncated], float(max_steps))
    # The test can fail: V(final obs) is far from V(reset obs [0]) = 0 (zero biases).
    assert value_of([0.0]) == 0.0 and abs(value_of([float(max_steps)])) > 1e-3


def test_bootstrap_values_under_vmap_with_different_truncation_counts():
    """A population whose members truncate 0, 1 and 9 times: one loop, every value right."""
    num_steps, num_envs, dim = 5, 2, 3
    rng = np.random.default_rng(0)
    truncated = np.zeros((3, num_steps, num_envs), bool)
    truncated[1, 2, 0] = True
    truncated[2] = True
    truncated[2, 0, 0] = False
    next_obs = rng.normal(size=(3, num_steps, num_envs, dim)).astype(np.float32)
    values = rng.normal(size=(3, num_steps, num_envs)).astype(np.float32)
    last = rng.normal(size=(3, num_envs)).astype(np.float32)
    value_fn = lambda o: jnp.sum(o, axis=-1) * 10.0

    def one(next_obs, values, truncated, last):
        traj = Transition(
            obs=None, next_obs=next_obs, action=None, log_prob=None, value=values, reward=None,
            terminated=jnp.zeros_like(truncated), done=truncated, dist_params=None)
        return bootstrap_values(traj, last, value_fn)

    got = np.asarray(jax.jit(jax.vmap(one))(next_obs, values, truncated, last))
    for p in range(3):
        expected = np.concatenate([values[p, 1:], last[p][None]], axis=0)
        expected = np.where(truncated[p], next_obs[p].sum(-1) * 10.0, expected)
        np.testing.assert_allclose(got[p], expected, rtol=1e-5, err_msg=f"member {p}")


# -------------------------------------------------------- episode metrics ---


def reference_episodes(traj, start_return, start_length):
    """(return sum, length sum, count) of the episodes that ended in the rollout, by loop."""
    reward, done = np.asarray(traj.reward), np.asarray(traj.done)
    running_return, running_length = np.array(start_return, float), np.array(start_length, float)
    total_return = total_length = count = 0.0
    for t in range(reward.shape[0]):
        running_return = running_return + reward[t]
        running_length = running_length + 1
        total_return += running_return[done[t]].sum()
        total_length += running_length[done[t]].sum()
        count += done[t].sum()
        running_return[done[t]], running_length[done[t]] = 0.0, 0.0
    return total_return, total_length, count


def test_episode_metrics_match_a_loop_over_the_rollout():
    """Random episode ends (action 1 terminates, the time limit truncates), over two
    rollouts so that episodes started in the first one end in the second."""
    config, ctx = tiny(ClockEnv(max_steps=4, terminate_on_action=True), num_envs=3, num_steps=9)
    state, carry = start_carry(ctx, jax.random.key(0))
    for update in range(2):
        start_return = np.asarray(carry.env_state.episode_return)
        start_length = np.asarray(carry.env_state.episode_length)
        carry, traj = rollout(ctx, state.params, carry, jax.random.key(update + 1))
        metrics = episode_metrics(carry.episodes)
        ret, length, count = reference_episodes(traj, start_return, start_length)
        assert np.asarray(traj.terminated).any() and (np.asarray(traj.done & ~traj.terminated)).any()
        assert float(metrics["num_episodes"]) == count
        assert float(metrics["episode_return"]) == pytest.approx(ret / count)
        assert float(metrics["episode_length"]) == pytest.approx(length / count)
        carry = carry.replace(episodes=EpisodeTally.zeros())


def test_episode_metrics_are_nan_without_a_finished_episode():
    metrics = episode_metrics(EpisodeTally.zeros())
    assert np.isnan(metrics["episode_return"]) and np.isnan(metrics["episode_length"])
    assert float(metrics["num_episodes"]) == 0.0


def test_training_reports_the_episodes_of_each_update():
    """Through `train`: ClockEnv episodes are exactly 3 steps, returns 1 + 2 + 3."""
    config, _ = tiny(ClockEnv(max_steps=3), num_envs=2, num_steps=6)
    config = config.replace(total_timesteps=3 * 12)
    out = jax.jit(ppo_jax.make_train(config, env=ClockEnv(max_steps=3)))(jax.random.key(0))
    np.testing.assert_array_equal(out.metrics["num_episodes"], [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(out.metrics["episode_return"], [6.0, 6.0, 6.0])
    np.testing.assert_array_equal(out.metrics["episode_length"], [3.0, 3.0, 3.0])


@pytest.mark.parametrize("case", ["random", "perfect", "constant-targets", "anti"])
def test_explained_variance_against_numpy(case):
    rng = np.random.default_rng(1)
    targets = rng.normal(size=64).astype(np.float32)
    values = {"random": rng.normal(size=64), "perfect": targets, "constant-targets": targets,
              "anti": -targets}[case].astype(np.float32)
    if case == "constant-targets":
        targets = np.full(64, 2.5, np.float32)
    got = float(explained_variance(jnp.asarray(values), jnp.asarray(targets)))
    if case == "constant-targets":
        assert np.isnan(got)
        return
    expected = 1.0 - np.var(targets.astype(np.float64) - values) / np.var(targets.astype(np.float64))
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)
    if case == "perfect":
        assert got == pytest.approx(1.0)


# ------------------------------------------------------ continuous actions ---


def test_env_gets_the_clipped_action_and_the_rollout_keeps_the_sample():
    """EchoEnv (bounds [-0.5, 0.5]) shows the action it received. The policy acts
    in [-1, 1]: the env gets the sample clipped to [-1, 1] and mapped onto its
    bounds, 0.5 * clip(a, -1, 1). log_std = log 2 makes most samples fall outside
    [-1, 1]; the stored action and log-probability must be the unclipped sample's."""
    config, ctx = tiny(EchoEnv(), num_envs=4, num_steps=16)
    state, carry = start_carry(ctx, jax.random.key(0))
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.full_like(x, np.log(2.0)) if "log_std" in jax.tree_util.keystr(path) else x,
        state.params)
    carry, traj = rollout(ctx, params, carry, jax.random.key(1))
    action = np.asarray(traj.action, np.float64)
    assert action.shape == (16, 4, 2) and (np.abs(action) > 1.0).mean() > 0.3
    np.testing.assert_allclose(np.asarray(traj.next_obs), 0.5 * np.clip(action, -1.0, 1.0), atol=1e-6)
    mean = np.asarray(traj.dist_params["mean"], np.float64)
    std = np.exp(np.asarray(traj.dist_params["log_std"], np.float64))
    np.testing.assert_allclose(std, 2.0, rtol=1e-6)
    log_prob = np.sum(-0.5 * ((action - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)
    np.testing.assert_allclose(np.asarray(traj.log_prob), log_prob, rtol=1e-5, atol=1e-5)


# --------------------------------------------------- running normalization ---


class TwoFeatureClockEnv(ClockEnv):
    """ClockEnv observing [time, 3 - 2 * time]: features of different mean, spread and sign."""

    def get_obs(self, state, params=None, key=None):
        time = state.time.astype(jnp.float32)
        return jnp.stack([time, 3.0 - 2.0 * time])

    def observation_space(self, params):
        return spaces.Box(-200.0, 100.0, (2,), jnp.float32)


def clock_features(time: np.ndarray) -> np.ndarray:
    return np.stack([time, 3.0 - 2.0 * time], axis=-1)


class WelfordStats:
    """Running mean and population variance, one sample at a time (Welford), starting
    from the library's prior: mean 0 and variance 1 seen 1e-4 times (as gym's)."""

    def __init__(self, shape):
        self.count, self.mean, self.m2 = 1e-4, np.zeros(shape), np.full(shape, 1e-4)

    def add(self, rows: np.ndarray) -> None:
        for x in rows:
            self.count += 1
            delta = x - self.mean
            self.mean = self.mean + delta / self.count
            self.m2 = self.m2 + delta * (x - self.mean)

    @property
    def var(self):
        return self.m2 / self.count


def normalized_rollout_reference(time, done, gamma, obs_stats, return_stats, discounted):
    """What a rollout with normalize_observations and normalize_rewards must give, by loop.

    time [B]: each env's time when the rollout starts; done [T, B]: the recorded episode
    ends. Each step merges the observations into the statistics, then normalizes them
    with them; the reward (ClockEnv: the time after the step) joins the per-env
    discounted return, whose statistics scale it; the return restarts after an episode
    end. obs_stats, return_stats (WelfordStats) are updated in place.
    Returns (obs, next_obs, reward [T, B], discounted [B], time [B]).
    """
    normalize = lambda x: np.clip((x - obs_stats.mean) / np.sqrt(obs_stats.var + 1e-8), -10, 10)
    obs, next_obs, rewards = [], [], []
    for t in range(done.shape[0]):
        obs_stats.add(clock_features(time))
        obs.append(normalize(clock_features(time)))
        next_obs.append(normalize(clock_features(time + 1.0)))  # the final observation, before a reset
        reward = time + 1.0
        discounted = gamma * discounted + reward
        return_stats.add(discounted)
        rewards.append(np.clip(reward / np.sqrt(return_stats.var + 1e-8), -10, 10))
        discounted = np.where(done[t], 0.0, discounted)
        time = np.where(done[t], 0.0, time + 1.0)
    return np.stack(obs), np.stack(next_obs), np.stack(rewards), discounted, time


def test_rollout_normalizes_observations_and_scales_rewards_as_a_numpy_loop():
    """Two rollouts in a row (statistics and returns carried over) with random episode ends
    (action 1 terminates, the time limit truncates): the observations the policy saw, the
    final observations, the scaled rewards and the carried statistics, against numpy."""
    env, gamma = TwoFeatureClockEnv(max_steps=4, terminate_on_action=True), 0.9
    config, ctx = tiny(env, num_envs=3, num_steps=9)
    state, carry = start_carry(ctx, jax.random.key(0))
    run = jax.jit(lambda c, k: collect_rollout(
        c, k, adapter=ctx.adapter, network=ctx.network, params=state.params, gamma=jnp.float32(gamma),
        num_steps=9, normalize_observations=True, normalize_rewards=True))
    obs_stats, return_stats = WelfordStats((2,)), WelfordStats(())
    time, discounted = np.asarray(carry.obs, np.float64)[:, 0], np.zeros(3)
    for update in range(2):
        carry, traj = run(carry, jax.random.key(update + 1))
        done = np.asarray(traj.done)
        assert done[:-1].any() and np.asarray(traj.terminated).any()  # episodes end mid-rollout
        obs, next_obs, reward, discounted, time = normalized_rollout_reference(
            time, done, gamma, obs_stats, return_stats, discounted)
        where = f"rollout {update}"
        np.testing.assert_allclose(traj.obs, obs, rtol=1e-4, atol=1e-4, err_msg=where)
        np.testing.assert_allclose(traj.next_obs, next_obs, rtol=1e-4, atol=1e-4, err_msg=where)
        np.testing.assert_allclose(traj.reward, reward, rtol=1e-4, atol=1e-5, err_msg=where)
        if update == 0:  # the first steps' returns have a tiny variance: their rewards clip
            assert np.asarray(traj.reward)[0].tolist() == [10.0, 10.0, 10.0]
        # the policy (and the critic) saw the normalized observations
        policy = ctx.network.apply(state.params, jnp.asarray(obs, jnp.float32), method="policy")
        np.testing.assert_allclose(traj.dist_params["logits"], policy["logits"], rtol=1e-4, atol=1e-5)
        value = ctx.network.apply(state.params, jnp.asarray(obs, jnp.float32), method="value")
        np.testing.assert_allclose(traj.value, value, rtol=1e-4, atol=1e-5)
        # the carry: raw observations, the statistics and the per-env returns
        np.testing.assert_array_equal(carry.obs, clock_features(time))
        np.testing.assert_allclose(carry.obs_stats.mean, obs_stats.mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(carry.obs_stats.var, obs_stats.var, rtol=1e-4, atol=1e-6)
        assert float(carry.obs_stats.count) == pytest.approx(obs_stats.count, abs=1e-3)
        np.testing.assert_allclose(carry.reward_scaler.discounted_return, discounted, rtol=1e-5)
        np.testing.assert_allclose(carry.reward_scaler.return_stats.var, return_stats.var, rtol=1e-4)
