"""The env protocol's second round: structured observations, action masks, multi-discrete
actions and a privileged critic, each against an independent reference (numpy loops,
hand-worked cases), and their errors before anything compiles.

The learning side (the probe envs learn) is tests/test_protocol_learning.py.
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CompileCounter, jit_fast, tiny_config

import ppo_jax
from ppo_jax.core import distributions as dist
from ppo_jax.core.normalize import init_reward_scaler, init_running_stats, observe, update_running_stats
from ppo_jax.core.rollout import EpisodeTally, RolloutCarry, collect_rollout
from ppo_jax.envs.adapters import ProtocolAdapter
from ppo_jax.envs.layout import ObsLayout
from ppo_jax.envs.probes import DictSumEnv, MaskedBanditEnv, MultiDiscreteTargetEnv, PrivilegedValueEnv
from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.networks.routing import MASKED_LOGIT, factor_logits

# ------------------------------------------------------------ numpy references ---


def np_log_softmax(x):
    x = np.asarray(x, np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_masked_categorical(logits, legal):
    """Probabilities of the masked Categorical, by renormalizing over the legal actions only."""
    logits = np.asarray(logits, np.float64)
    p = np.where(legal, np.exp(logits - logits.max(-1, keepdims=True)), 0.0)
    return p / p.sum(-1, keepdims=True)


def np_entropy(p):
    return -sum(pi * np.log(pi) for pi in p if pi > 0)


def np_kl(p, q):
    return sum(pi * np.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


# --------------------------------------------------------------------- masks ---


def test_masked_log_prob_entropy_and_kl_match_the_renormalized_distribution():
    rng = np.random.default_rng(0)
    logits_p, logits_q = rng.normal(size=(2, 5, 6)) * 2
    legal = rng.random((5, 6)) < 0.6
    legal[:, 0] = True  # every row has a legal action
    masked_p = {"logits": dist.mask_logits(jnp.asarray(logits_p, jnp.float32), legal)}
    masked_q = {"logits": dist.mask_logits(jnp.asarray(logits_q, jnp.float32), legal)}
    for row in range(5):
        p = np_masked_categorical(logits_p[row], legal[row])
        q = np_masked_categorical(logits_q[row], legal[row])
        for action in np.flatnonzero(legal[row]):
            got = dist.log_prob({"logits": masked_p["logits"][row]}, jnp.asarray(action))
            np.testing.assert_allclose(got, np.log(p[action]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dist.entropy(masked_p)[row], np_entropy(p), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dist.kl_divergence(masked_p, masked_q)[row], np_kl(p, q),
                                   rtol=1e-4, atol=1e-6)
    assert np.isfinite(np.asarray(dist.entropy(masked_p))).all()


def test_masked_sampling_never_draws_an_illegal_action():
    legal = np.array([[False, True, False, True], [False, False, True, False]])
    logits = jnp.asarray([[9.0, -3.0, 9.0, -3.0], [5.0, 5.0, -8.0, 5.0]])  # illegal ones favoured
    params = {"logits": dist.mask_logits(logits, legal)}
    noise = dist.draw_policy_noise(jax.random.key(0), (2000, 2, 4), True)
    actions = np.asarray(dist.sample_from_noise(params, noise))
    assert legal[np.arange(2), actions].all()
    # row 0: two legal actions of equal logits, drawn about equally often
    assert 0.45 < (actions[:, 0] == 1).mean() < 0.55
    assert np.asarray(dist.greedy_action(params)).tolist() in ([1, 2], [3, 2])


# ------------------------------------------------------------ multi-discrete ---


def test_multi_discrete_log_prob_and_entropy_are_sums_over_dimensions():
    rng = np.random.default_rng(1)
    dims = (3, 5, 2)
    flat = rng.normal(size=(4, sum(dims))).astype(np.float32)
    params = {"factor_logits": factor_logits(jnp.asarray(flat), dims)}
    assert params["factor_logits"].shape == (4, 3, 5)
    actions = np.stack([rng.integers(0, n, size=4) for n in dims], axis=-1)
    got_lp = np.asarray(dist.log_prob(params, jnp.asarray(actions)))
    got_h = np.asarray(dist.entropy(params))
    for row in range(4):
        start, lp, h = 0, 0.0, 0.0
        for d, n in enumerate(dims):
            log_p = np_log_softmax(flat[row, start:start + n])
            lp += log_p[actions[row, d]]
            h += -(np.exp(log_p) * log_p).sum()
            start += n
        np.testing.assert_allclose(got_lp[row], lp, rtol=1e-5)
        np.testing.assert_allclose(got_h[row], h, rtol=1e-5)
    # the same as distrax's Independent Categorical
    np.testing.assert_allclose(dist.make_distribution(params).log_prob(jnp.asarray(actions)), got_lp,
                               rtol=1e-5)


def test_multi_discrete_kl_is_the_sum_of_each_dimensions_kl():
    rng = np.random.default_rng(2)
    dims = (2, 4)
    a, b = rng.normal(size=(2, sum(dims))).astype(np.float32)
    pa = {"factor_logits": factor_logits(jnp.asarray(a), dims)}
    pb = {"factor_logits": factor_logits(jnp.asarray(b), dims)}
    expected = sum(np_kl(np.exp(np_log_softmax(a[s:s + n])), np.exp(np_log_softmax(b[s:s + n])))
                   for s, n in ((0, 2), (2, 4)))
    np.testing.assert_allclose(dist.kl_divergence(pa, pb), expected, rtol=1e-4)


def test_padded_choices_of_a_short_dimension_are_never_sampled():
    params = {"factor_logits": factor_logits(jnp.zeros((7,)), (2, 5))}
    assert np.asarray(params["factor_logits"])[0, 2:].tolist() == [MASKED_LOGIT] * 3
    noise = dist.draw_policy_noise(jax.random.key(0), (500, 2, 5), True)
    actions = np.asarray(dist.sample_from_noise(params, noise))
    assert actions[:, 0].max() == 1 and actions[:, 1].max() == 4


# ------------------------------------------------------- structured observations ---


class Pair(typing.NamedTuple):
    image: jax.Array
    flags: jax.Array


def test_layout_flattens_in_tree_order_and_unflattens_back():
    obs = {"b": Pair(jnp.arange(12.0).reshape(2, 2, 3), jnp.array([True, False])),
           "a": jnp.array([7, 8], jnp.uint8)}
    layout = ObsLayout.from_example(obs)
    assert layout.keys == ("a", "b.image", "b.flags") and layout.dim == 16
    flat = np.asarray(layout.flatten(obs))
    np.testing.assert_array_equal(flat, np.concatenate([[7, 8], np.arange(12.0), [1, 0]]))
    back = layout.unflatten(jnp.asarray(flat))
    np.testing.assert_array_equal(back["b"].image, obs["b"].image)
    assert layout.leaves_under("b") == layout.leaves[1:] and layout.top_level_keys == ("a", "b")
    batch = jax.tree.map(lambda x: jnp.stack([x, x, x]), obs)
    assert layout.batch_shape(batch) == (3,) and layout.flatten(batch).shape == (3, 16)
    assert layout.batch_shape({"a": obs["a"]}) is None


def test_observation_normalization_is_per_leaf_element_with_the_mask_passed_through():
    """Running statistics over a rollout of dict observations equal numpy's per-leaf
    mean and variance; the mask leaf reaches the network unnormalized."""
    rng = np.random.default_rng(3)
    batches = [{"action_mask": rng.random((4, 3)) < 0.5, "pos": rng.normal(2.0, 3.0, (4, 2)),
                "vel": rng.normal(-1.0, 0.5, (4, 1))} for _ in range(5)]
    layout = ObsLayout.from_example(jax.tree.map(lambda x: x[0], batches[0]))
    stats = init_running_stats((layout.dim,))
    for b in batches:
        stats = update_running_stats(stats, layout.flatten(b))
    for key in ("pos", "vel"):
        leaf = layout.leaves_under(key)[0]
        values = np.concatenate([b[key] for b in batches]).astype(np.float64)
        np.testing.assert_allclose(stats.mean[leaf.offset:leaf.offset + leaf.size], values.mean(0), rtol=1e-4)
        np.testing.assert_allclose(stats.var[leaf.offset:leaf.offset + leaf.size], values.var(0), rtol=1e-3)
    span = (0, 3)  # the mask comes first in tree order
    seen = observe(stats, layout.flatten(batches[0]), True, span)
    np.testing.assert_array_equal(seen[:, :3], batches[0]["action_mask"].astype(np.float32))
    pos = layout.leaves_under("pos")[0]
    expected = np.clip((batches[0]["pos"] - stats.mean[pos.offset:pos.offset + 2])
                       / np.sqrt(stats.var[pos.offset:pos.offset + 2] + 1e-8), -10, 10)
    np.testing.assert_allclose(seen[:, pos.offset:pos.offset + 2], expected, rtol=1e-5, atol=1e-6)


def test_a_rollout_of_the_masked_bandit_never_takes_an_illegal_action():
    env = MaskedBanditEnv()
    config = tiny_config(num_envs=64, num_steps=16, normalize_observations=True)
    ctx_network = ppo_jax.networks.make_network(config, env.spec)
    adapter = ProtocolAdapter(env)
    params = ppo_jax.networks.init_params(ctx_network, jax.random.key(0), env.spec.obs_dim)
    # a policy that prefers action 3 strongly: logits bias towards it
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: x.at[3].add(20.0) if "actor" in jax.tree_util.keystr(p) and x.shape == (4,) else x, params)
    obs, env_state = jax.vmap(adapter.reset)(jax.random.split(jax.random.key(1), 64))
    carry = RolloutCarry(env_state, obs, init_running_stats((env.spec.obs_dim,)), init_reward_scaler(64),
                         EpisodeTally.zeros(), None)
    _, traj = jit_fast(lambda c, k: collect_rollout(
        c, k, adapter=adapter, network=ctx_network, params=params, gamma=0.99, num_steps=16,
        normalize_observations=True, normalize_rewards=False))(carry, jax.random.key(2))
    mask = np.asarray(traj.obs[..., :4]) > 0
    actions = np.asarray(traj.action)
    assert np.take_along_axis(mask, actions[..., None], -1).all()
    state_c1 = ~mask[..., 3]
    assert state_c1.any() and (actions[~state_c1] == 3).mean() > 0.99  # it does take 3 where legal
    # and the stored log-probabilities are those of the masked distribution
    p = np.asarray(jax.nn.softmax(traj.dist_params["logits"], -1))
    assert np.all(p[..., 3][state_c1] == 0.0)


# -------------------------------------------------------------- bad input ---


def test_a_mask_of_the_wrong_shape_or_a_missing_leaf_is_refused():
    with pytest.raises(ValueError, match=r"action_mask 'mask' has shape \[3\]; .* shape \[4\] \(num_actions\)"):
        EnvSpec.discrete_actions({"x": jnp.zeros(2), "mask": jnp.zeros(3, bool)}, 4, action_mask="mask")
    with pytest.raises(ValueError, match=r"action_mask 'legal' is not a leaf .*valid: mask, x"):
        EnvSpec.discrete_actions({"x": jnp.zeros(2), "mask": jnp.zeros(4, bool)}, 4, action_mask="legal")
    with pytest.raises(ValueError, match=r"shape \[7\] \(sum of action_dims \(3, 4\)\)"):
        EnvSpec.multi_discrete_actions({"x": jnp.zeros(2), "m": jnp.zeros(6, bool)}, (3, 4), action_mask="m")
    with pytest.raises(ValueError, match="give an example observation"):
        EnvSpec.discrete_actions((4,), 4, action_mask="action_mask")
    with pytest.raises(ValueError, match="needs Discrete or multi-discrete actions"):
        EnvSpec(obs_dim=2, action_size=1, action_low=np.zeros(1), action_high=np.ones(1),
                obs_layout=ObsLayout.from_example({"m": jnp.zeros(1)}), action_mask="m")


@pytest.mark.parametrize("field, key, pattern", [
    ("policy_obs_key", "privileged", r"PPOConfig.policy_obs_key 'privileged' is not a key .*valid: "
                                      r"privileged_state, state"),
    ("value_obs_key", "critic", r"PPOConfig.value_obs_key 'critic' is not a key .*valid: privileged_state, state"),
])
def test_unknown_observation_keys_fail_before_compiling(field, key, pattern):
    config = tiny_config(**{field: key})
    with CompileCounter() as counter, pytest.raises(ValueError, match=pattern):
        ppo_jax.make_train(config, env=PrivilegedValueEnv())
    assert counter.count == 0


def test_observation_keys_on_an_unstructured_env_and_bad_key_values_are_refused():
    with pytest.raises(ValueError, match="policy_obs_key 'state': CartPole-v1 has one array .* leave it None"):
        ppo_jax.make_train(tiny_config(policy_obs_key="state"))
    with pytest.raises(ValueError, match="value_obs_key must be None or the name"):
        tiny_config(value_obs_key="")
    with pytest.raises(ValueError, match="value_obs_key 'privileged_state': network='gru' is recurrent"):
        tiny_config(network="gru", policy_obs_key="state", value_obs_key="privileged_state")


def test_an_all_illegal_mask_is_an_error_naming_the_env_not_a_nan():

    class NoLegalAction(MaskedBanditEnv):
        def _observe(self, context):
            obs = super()._observe(context)
            return {**obs, "action_mask": obs["action_mask"] & (context == 0)}

    train = ppo_jax.make_train(tiny_config(), env=NoLegalAction())
    with pytest.raises(Exception, match=r"NoLegalAction: \d+ observation\(s\) of a rollout have no legal "
                                        r"action: the action mask \(observation leaf 'action_mask'\)"):
        jax.block_until_ready(jit_fast(train)(jax.random.key(0)))


# --------------------------------------------------- privileged critic wiring ---


def test_policy_and_value_read_only_their_keys():
    """The actor's first kernel has the policy key's width, the critic's the value key's;
    make_policy acts on the policy's key alone, the same as on the whole observation."""
    env = PrivilegedValueEnv()
    config = tiny_config(policy_obs_key="state", value_obs_key="privileged_state")
    state = ppo_jax.make_trainer(config, env=env).init(jax.random.key(0), config.hparams)
    kernels = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_flatten_with_path(state.params)[0]}
    assert kernels["['params']['actor']['Dense_0']['kernel']"][0] == 2
    assert kernels["['params']['critic']['Dense_0']['kernel']"][0] == 1
    act = ppo_jax.make_policy(config, state, env=env, deterministic=True)
    obs, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 5))
    whole = act(jax.random.key(2), obs)
    np.testing.assert_array_equal(act(jax.random.key(2), obs["state"]), whole)
    value = ppo_jax.make_value_fn(config, state, env=env)
    v_whole, v_part = value(obs), value(obs["privileged_state"])
    np.testing.assert_allclose(v_whole, v_part, rtol=1e-6)
    assert len(set(np.asarray(v_whole).round(6).tolist())) == 2  # V depends on r alone


def test_a_structured_observation_of_another_shape_is_refused_by_make_policy():
    env = DictSumEnv()
    config = tiny_config()
    state = ppo_jax.make_trainer(config, env=env).init(jax.random.key(0), config.hparams)
    act = ppo_jax.make_policy(config, state, env=env)
    with pytest.raises(ValueError, match=r"act: an observation of DictSumEnv is a .* leaves left \[2\], right \[2\]"):
        act(jax.random.key(0), {"left": jnp.zeros(2)})
    assert act(jax.random.key(0), {"left": jnp.zeros((4, 2)), "right": jnp.ones((4, 2))}).shape == (4,)


def test_cnn_reads_image_leaves_of_a_structured_observation():

    class ImageAndFlags:
        spec = EnvSpec.discrete_actions({"view": jax.ShapeDtypeStruct((5, 5, 2), jnp.uint8),
                                         "flags": jax.ShapeDtypeStruct((3,), jnp.float32)}, 3)

        def reset(self, key):
            return {"view": jnp.zeros((5, 5, 2), jnp.uint8), "flags": jnp.zeros(3)}, jnp.zeros(())

        def step(self, key, state, action):
            obs, _ = self.reset(key)
            return EnvStep(obs, state, jnp.zeros(()), jnp.asarray(True), jnp.asarray(False), obs)

    config = tiny_config(network="cnn", conv_channels=(4,))
    out = jit_fast(ppo_jax.make_train(config, env=ImageAndFlags()))(jax.random.key(0))
    shapes = {jax.tree_util.keystr(p, simple=True, separator="/"): x.shape
              for p, x in jax.tree_util.tree_flatten_with_path(out.state.params)[0]}
    assert shapes["params/actor_torso/ConvTorso_0/Conv_0/kernel"] == (3, 3, 2, 4)
    # the torso's 3 x 3 x 4 features and the 3 flags feed the MLP
    assert shapes["params/actor/Dense_0/kernel"] == (3 * 3 * 4 + 3, 16)
    assert np.isfinite(np.asarray(out.metrics["policy_loss"])).all()


def test_one_update_trains_on_each_probe(make_tiny_config):
    for env, extra in ((MaskedBanditEnv(), {}), (MultiDiscreteTargetEnv(masked=True), {}),
                       (DictSumEnv(), {"network": "gru"}),
                       (PrivilegedValueEnv(), {"value_obs_key": "privileged_state"})):
        config = make_tiny_config(num_updates=1, num_envs=4, **extra)
        out = jit_fast(ppo_jax.make_train(config, env=env))(jax.random.key(0))
        for name in ("policy_loss", "value_loss", "entropy", "approx_kl"):
            assert np.isfinite(np.asarray(out.metrics[name])).all(), (type(env).__name__, name)


def test_a_registered_network_reads_the_structured_observation_through_the_layout():
    """Your own encoder: build(config, spec) gets the spec, whose layout turns the flat input
    back into the observation's dict; the mask is still applied around the module."""
    import flax.linen as nn

    class PerLeaf(nn.Module):
        layout: ObsLayout
        policy_dim: int

        def setup(self):
            self.state_head, self.v = nn.Dense(self.policy_dim), nn.Dense(1)

        def __call__(self, obs):
            return self.policy(obs), self.value(obs)

        def policy(self, obs):
            return {"logits": self.state_head(self.layout.unflatten(obs)["state"])}

        def value(self, obs):
            return self.v(self.layout.unflatten(obs)["state"])[..., 0]

    ppo_jax.register_network("per_leaf_probe", lambda config, spec: PerLeaf(spec.obs_layout, spec.policy_dim))
    env = MaskedBanditEnv()
    config = tiny_config(network="per_leaf_probe", num_envs=32)
    state = ppo_jax.make_trainer(config, env=env).init(jax.random.key(0), config.hparams)
    assert state.params["params"]["state_head"]["kernel"].shape == (2, 4)  # reads "state" only
    # a strong preference for the illegal action 3 is overridden by the mask
    state = state.replace(params=jax.tree.map(lambda x: x, state.params))
    state.params["params"]["state_head"]["bias"] = jnp.array([0.0, 0.0, 0.0, 50.0])
    act = ppo_jax.make_policy(config, state, env=env, deterministic=True)
    obs, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 64))
    actions = np.asarray(act(jax.random.key(2), obs))
    legal3 = np.asarray(obs["action_mask"])[:, 3]
    assert np.all(actions[legal3] == 3) and not np.any(actions[~legal3] == 3)
