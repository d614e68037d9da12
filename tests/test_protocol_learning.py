"""The env protocol's second round, learned end to end on its probe envs
(`ppo_jax.envs.probes`; one-step episodes, so returns are per-step payoffs).

Each budget is small (a few seconds of training on 2 CPU cores) and each
threshold is well above what an agent without the feature can reach.
"""

from __future__ import annotations

import jax
import numpy as np

import ppo_jax
from ppo_jax.envs.probes import DictSumEnv, MaskedBanditEnv, MultiDiscreteTargetEnv, PrivilegedValueEnv


def probe_config(num_updates: int, **overrides) -> ppo_jax.PPOConfig:
    config = ppo_jax.PPOConfig(env="CartPole-v1", num_envs=16, num_steps=8,
                               total_timesteps=16 * 8 * num_updates, num_minibatches=2, update_epochs=4)
    return config.replace(**overrides)


def final(out) -> np.ndarray:
    """Each seed's mean episode return over the last 10 updates."""
    return np.nanmean(np.asarray(out.metrics["episode_return"])[..., -10:], axis=-1)


def test_masked_bandit_learns_the_best_legal_action_and_never_an_illegal_one():
    """Optimal legal play earns 0.75 (1 where action 3 is legal, 0.5 elsewhere); always
    taking the best legal-everywhere action (2) earns 0.5, a uniform legal policy 0.42."""
    env = MaskedBanditEnv()
    config = probe_config(60, normalize_observations=True)
    out = ppo_jax.train_seeds(config, num_seeds=4, seed=0, env=env)
    returns = final(out)
    assert np.all(returns >= 0.68), returns.round(3).tolist()
    for seed in range(4):
        state = jax.tree.map(lambda x, s=seed: x[s], out.state)
        act = ppo_jax.make_policy(config, state, env=env)
        obs, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(seed), 512))
        actions = np.asarray(act(jax.random.key(7), obs))
        legal = np.asarray(obs["action_mask"])
        assert legal[np.arange(512), actions].all()  # sampled: never illegal
        context_one = ~legal[:, 3]
        assert (actions[context_one] == 2).mean() > 0.9 and (actions[~context_one] == 3).mean() > 0.9


def test_multi_discrete_target_is_learned_in_both_dimensions():
    """Each dimension pays 0.5 on a match: chance is 0.5/3 + 0.5/4 = 0.29, a perfect agent 1."""
    out = ppo_jax.train_seeds(probe_config(50, learning_rate=1e-3), num_seeds=4, seed=0,
                              env=MultiDiscreteTargetEnv())
    returns = final(out)
    assert np.all(returns >= 0.8), returns.round(3).tolist()


def test_masked_multi_discrete_target_is_learned():
    """Choice 0 of each dimension is illegal: chance over the legal ones is 0.5/2 + 0.5/3 = 0.42."""
    out = ppo_jax.train_seeds(probe_config(60), num_seeds=4, seed=0, env=MultiDiscreteTargetEnv(masked=True))
    returns = final(out)
    assert np.all(returns >= 0.8), returns.round(3).tolist()


def test_reward_that_depends_on_two_dict_leaves_is_learned():
    """Action i + j pays 1 (two bits, one per leaf): one leaf alone gives 0.5 at best."""
    out = ppo_jax.train_seeds(probe_config(50, learning_rate=3e-3), num_seeds=4, seed=0, env=DictSumEnv())
    returns = final(out)
    assert np.all(returns >= 0.8), returns.round(3).tolist()


def test_a_privileged_critic_predicts_the_value_the_policy_cannot_see():
    """The value loss (0.5 x squared error) is about 0.5 for a critic that reads "state"
    (r = +-1 unseen) and near 0 for one that reads "privileged_state"."""
    env = PrivilegedValueEnv()
    losses = {}
    for critic_key in ("state", "privileged_state"):
        config = probe_config(30, policy_obs_key="state", value_obs_key=critic_key)
        out = ppo_jax.train_seeds(config, num_seeds=4, seed=0, env=env)
        losses[critic_key] = np.asarray(out.metrics["value_loss"])[:, -10:].mean(axis=1)
    assert np.all(losses["state"] > 0.4), losses
    assert np.all(losses["privileged_state"] < 0.05), losses
