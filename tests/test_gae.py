"""compute_gae against plain numpy references (the sum definition of GAE)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core.gae import compute_gae

T, B = 9, 3


def gae_reference(rewards, values, next_values, terminated, truncated, gamma, lam):
    """A_t = sum_{k >= t} (gamma lam)^(k - t) delta_k, the sum stopping at the
    first episode end k >= t; delta_k bootstraps from V(s'_k) unless s'_k is terminal."""
    done = terminated | truncated
    advantages = np.zeros_like(rewards, dtype=np.float64)
    for b in range(rewards.shape[1]):
        for t in range(rewards.shape[0]):
            total, weight = 0.0, 1.0
            for k in range(t, rewards.shape[0]):
                bootstrap = 0.0 if terminated[k, b] else gamma * next_values[k, b]
                delta = rewards[k, b] + bootstrap - values[k, b]
                total += weight * delta
                if done[k, b]:
                    break
                weight *= gamma * lam
            advantages[t, b] = total
    return advantages, advantages + values


def discounted_return_reference(rewards, next_values, terminated, truncated, gamma):
    """Monte-Carlo return to the episode end (or the rollout end), bootstrapped
    with V(s') there unless the episode terminated: the lambda = 1 target."""
    done = terminated | truncated
    returns = np.zeros_like(rewards, dtype=np.float64)
    for b in range(rewards.shape[1]):
        for t in range(rewards.shape[0]):
            total, discount = 0.0, 1.0
            for k in range(t, rewards.shape[0]):
                total += discount * rewards[k, b]
                discount *= gamma
                if done[k, b] or k == rewards.shape[0] - 1:
                    if not terminated[k, b]:
                        total += discount * next_values[k, b]
                    break
            returns[t, b] = total
    return returns


def _flags(events):
    """[(t, b), ...] -> bool [T, B]."""
    out = np.zeros((T, B), bool)
    for t, b in events:
        out[t, b] = True
    return out


# (terminated events, truncated events) as (t, b) pairs.
EPISODE_ENDS = {
    "no_episode_end": ([], []),
    "termination_mid_rollout": ([(3, 0), (5, 2), (1, 2)], []),
    "truncation_mid_rollout": ([], [(3, 0), (6, 1), (0, 2)]),
    "termination_and_truncation": ([(2, 0), (7, 1)], [(5, 0), (3, 1), (4, 2)]),
    "ends_on_last_step": ([(T - 1, 0)], [(T - 1, 1)]),
    "every_step_truncated": ([], [(t, b) for t in range(T) for b in range(B)]),
    "every_step_terminated": ([(t, b) for t in range(T) for b in range(B)], []),
}


def _random_rollout(seed: int, case: str):
    """Random rewards and values, consistent as in a real rollout: within an
    episode V(s'_t) = V(s_{t+1}); after an episode end they differ (s'_t is the
    final observation, s_{t+1} the reset one), and so they do after the last step."""
    rng = np.random.default_rng(seed)
    term_events, trunc_events = EPISODE_ENDS[case]
    terminated, truncated = _flags(term_events), _flags(trunc_events)
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    values = rng.normal(size=(T, B)).astype(np.float32)
    next_values = rng.normal(size=(T, B)).astype(np.float32)
    continues = ~(terminated | truncated)[:-1]
    next_values[:-1] = np.where(continues, values[1:], next_values[:-1])
    return rewards, values, next_values, terminated, truncated


def _gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    advantages, targets = jax.jit(compute_gae)(
        jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(next_values),
        jnp.asarray(terminated), jnp.asarray(terminated | truncated),
        jnp.float32(gamma), jnp.float32(lam),
    )
    return np.asarray(advantages), np.asarray(targets)


@pytest.mark.parametrize("case", list(EPISODE_ENDS), ids=list(EPISODE_ENDS))
@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (0.9, 0.5)], ids=["g0.99-l0.95", "g0.9-l0.5"])
def test_gae_matches_numpy_reference(case, gamma, lam):
    rollout = _random_rollout(0, case)
    advantages, targets = _gae(*rollout, gamma, lam)
    ref_adv, ref_targets = gae_reference(*rollout, gamma, lam)
    assert advantages.shape == targets.shape == (T, B)
    np.testing.assert_allclose(advantages, ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, ref_targets, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", list(EPISODE_ENDS), ids=list(EPISODE_ENDS))
def test_lambda_zero_is_one_step_td(case):
    rewards, values, next_values, terminated, truncated = _random_rollout(1, case)
    gamma = 0.97
    advantages, targets = _gae(rewards, values, next_values, terminated, truncated, gamma, 0.0)
    td_target = rewards + gamma * np.where(terminated, 0.0, next_values)
    np.testing.assert_allclose(targets, td_target, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, td_target - values, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", list(EPISODE_ENDS), ids=list(EPISODE_ENDS))
def test_lambda_one_is_bootstrapped_monte_carlo(case):
    rewards, values, next_values, terminated, truncated = _random_rollout(2, case)
    gamma = 0.95
    advantages, targets = _gae(rewards, values, next_values, terminated, truncated, gamma, 1.0)
    returns = discounted_return_reference(rewards, next_values, terminated, truncated, gamma)
    np.testing.assert_allclose(targets, returns, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, returns - values, rtol=1e-5, atol=1e-5)


# Worked by hand, one env, T = 3, gamma = 0.5, lambda = 1 (targets are returns):
# rewards 1, 2, 4; V(s'_t) = next_values = 10, 20, 40; V(s_0) = 3 and
# V(s_t) = V(s'_{t-1}) within an episode, V(reset obs) = -5 after an end.
HAND_CASES = {
    # 4 + .5 * 40 = 24, 2 + .5 * 24 = 14, 1 + .5 * 14 = 8
    "no_end": ([False, False, False], [False, False, False], [8.0, 14.0, 24.0]),
    # step 0 terminates: its target is the reward alone
    "terminated_at_0": ([True, False, False], [False, False, False], [1.0, 14.0, 24.0]),
    # step 0 truncates: it bootstraps from V(final obs) = 10 and stops there
    "truncated_at_0": ([False, False, False], [True, False, False], [6.0, 14.0, 24.0]),
    # step 1 truncated: 1 + .5 (2 + .5 * 20) = 7, 2 + .5 * 20 = 12
    "truncated_at_1": ([False, False, False], [False, True, False], [7.0, 12.0, 24.0]),
    # step 2 terminates: 1 + .5 (2 + .5 * 4) = 3, 2 + .5 * 4 = 4, 4
    "terminated_at_2": ([False, False, True], [False, False, False], [3.0, 4.0, 4.0]),
}


@pytest.mark.parametrize("case", list(HAND_CASES), ids=list(HAND_CASES))
def test_hand_worked_targets(case):
    terminated, truncated, expected = HAND_CASES[case]
    rewards = np.array([[1.0], [2.0], [4.0]], np.float32)
    next_values = np.array([[10.0], [20.0], [40.0]], np.float32)
    terminated = np.array(terminated)[:, None]
    truncated = np.array(truncated)[:, None]
    values = np.array([[3.0], [0.0], [0.0]], np.float32)
    for t in (1, 2):
        values[t] = -5.0 if terminated[t - 1] or truncated[t - 1] else next_values[t - 1]
    _, targets = _gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0)
    np.testing.assert_allclose(targets[:, 0], expected, rtol=1e-6)


def test_gamma_and_lambda_can_be_vmapped():
    rollout = _random_rollout(3, "termination_and_truncation")
    gammas = jnp.array([0.9, 0.99], jnp.float32)
    lams = jnp.array([0.0, 0.95], jnp.float32)
    rewards, values, next_values, terminated, truncated = map(jnp.asarray, rollout)
    adv, _ = jax.vmap(compute_gae, in_axes=(None, None, None, None, None, 0, 0))(
        rewards, values, next_values, terminated, terminated | truncated, gammas, lams
    )
    for i in range(2):
        ref, _ = gae_reference(*rollout, float(gammas[i]), float(lams[i]))
        np.testing.assert_allclose(np.asarray(adv[i]), ref, rtol=1e-5, atol=1e-5)
