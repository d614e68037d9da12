"""PPO loss terms against hand-worked cases and a numpy reference of the whole loss."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast

from ppo_jax.config.hparams import HParams
from ppo_jax.core.loss import LossOptions, clipped_surrogate, ppo_loss, value_loss
from ppo_jax.core.types import Batch
from ppo_jax.networks.feedforward import ActorCritic

N, OBS_DIM, NUM_ACTIONS, ACTION_DIM = 32, 5, 3, 2
EPS = 0.2


# --------------------------------------------------------------------------
# clipped surrogate: ratio 1 and the zero-gradient regions
# --------------------------------------------------------------------------

def test_ratio_one_clipped_equals_unclipped():
    advantage = jnp.asarray(np.random.default_rng(0).normal(size=N), jnp.float32)
    ratio = jnp.ones(N)
    clipped = clipped_surrogate(ratio, advantage, EPS)
    np.testing.assert_allclose(clipped, ratio * advantage, rtol=1e-7)
    np.testing.assert_allclose(clipped, advantage, rtol=1e-7)


# (ratio, advantage, d surrogate / d ratio)
GRADIENT_CASES = {
    "above_clip_positive_adv_is_flat": (1.5, 2.0, 0.0),
    "below_clip_negative_adv_is_flat": (0.5, -2.0, 0.0),
    "above_clip_negative_adv_has_gradient": (1.5, -2.0, -2.0),
    "below_clip_positive_adv_has_gradient": (0.5, 2.0, 2.0),
    "inside_clip_positive_adv": (1.1, 2.0, 2.0),
    "inside_clip_negative_adv": (0.9, -2.0, -2.0),
}


@pytest.mark.parametrize("case", list(GRADIENT_CASES), ids=list(GRADIENT_CASES))
def test_surrogate_gradient_wrt_ratio(case):
    ratio, advantage, expected = GRADIENT_CASES[case]
    grad = jax.grad(clipped_surrogate)(jnp.float32(ratio), jnp.float32(advantage), EPS)
    assert float(grad) == pytest.approx(expected)


@pytest.mark.parametrize("case", list(GRADIENT_CASES), ids=list(GRADIENT_CASES))
def test_surrogate_gradient_wrt_log_prob(case):
    ratio, advantage, expected = GRADIENT_CASES[case]
    old_log_prob = jnp.float32(-1.3)
    log_prob = old_log_prob + jnp.log(jnp.float32(ratio))

    def surrogate(lp):
        return clipped_surrogate(jnp.exp(lp - old_log_prob), jnp.float32(advantage), EPS)

    grad = jax.grad(surrogate)(log_prob)
    # d/d logp = ratio * d/d ratio
    assert float(grad) == pytest.approx(ratio * expected, rel=1e-5)


# --------------------------------------------------------------------------
# value loss
# --------------------------------------------------------------------------

def value_loss_reference(value, old_value, target, clip_eps, clip):
    unclipped = (value - target) ** 2
    if not clip:
        return 0.5 * np.mean(unclipped)
    clipped_value = old_value + np.clip(value - old_value, -clip_eps, clip_eps)
    return 0.5 * np.mean(np.maximum(unclipped, (clipped_value - target) ** 2))


@pytest.mark.parametrize("clip", [True, False], ids=["clipped", "unclipped"])
def test_value_loss_matches_numpy(clip):
    rng = np.random.default_rng(1)
    old_value = rng.normal(size=N).astype(np.float32)
    # half the values move less than clip_eps from the old ones, half more
    step = np.concatenate([rng.uniform(-0.1, 0.1, N // 2), rng.uniform(0.5, 1.0, N // 2)])
    value = (old_value + step * rng.choice([-1, 1], N)).astype(np.float32)
    target = rng.normal(size=N).astype(np.float32)
    got = value_loss(jnp.asarray(value), jnp.asarray(old_value), jnp.asarray(target), EPS, clip)
    want = value_loss_reference(value, old_value, target, EPS, clip)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_value_clipping_hand_worked():
    # old 0, target 1, new value 0.5: clipped value 0.2 -> max(0.25, 0.64) / 2
    got = value_loss(jnp.array([0.5]), jnp.array([0.0]), jnp.array([1.0]), EPS, True)
    assert float(got) == pytest.approx(0.32)
    # moving past the clip range away from the target is not capped: max(2.25, 1.44) / 2
    got = value_loss(jnp.array([-0.5]), jnp.array([0.0]), jnp.array([1.0]), EPS, True)
    assert float(got) == pytest.approx(1.125)


# --------------------------------------------------------------------------
# ppo_loss against a numpy reference, for a Categorical and a Gaussian network
# --------------------------------------------------------------------------

def _log_softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def categorical_reference(dist_params, old_dist_params, action):
    """(log_prob [N], entropy [N], KL[old || new] [N]) in numpy."""
    logp = _log_softmax(np.asarray(dist_params["logits"], np.float64))
    old_logp = _log_softmax(np.asarray(old_dist_params["logits"], np.float64))
    log_prob = np.take_along_axis(logp, action[:, None], -1)[:, 0]
    entropy = -(np.exp(logp) * logp).sum(-1)
    kl = (np.exp(old_logp) * (old_logp - logp)).sum(-1)
    return log_prob, entropy, kl


def gaussian_reference(dist_params, old_dist_params, action):
    mean = np.asarray(dist_params["mean"], np.float64)
    log_std = np.asarray(dist_params["log_std"], np.float64)
    old_mean = np.asarray(old_dist_params["mean"], np.float64)
    old_log_std = np.asarray(old_dist_params["log_std"], np.float64)
    std, old_std = np.exp(log_std), np.exp(old_log_std)
    log_prob = (-0.5 * ((action - mean) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    entropy = (0.5 + 0.5 * np.log(2 * np.pi) + log_std).sum(-1)
    kl = log_std - old_log_std + (old_std**2 + (old_mean - mean) ** 2) / (2 * std**2) - 0.5
    kl = kl.sum(-1)
    return log_prob, entropy, kl


def _network(discrete: bool) -> ActorCritic:
    return ActorCritic(policy_dim=NUM_ACTIONS if discrete else ACTION_DIM, discrete=discrete,
                       hidden_sizes=(16,), activation="tanh")


def _make_case(discrete: bool, seed: int = 0):
    """Network params and a batch whose acting policy is a perturbed copy of it."""
    rng = np.random.default_rng(seed)
    network = _network(discrete)
    obs = jnp.asarray(rng.normal(size=(N, OBS_DIM)), jnp.float32)
    params = network.init(jax.random.key(seed), obs)
    dist_params, _ = network.apply(params, obs)
    # the acting (old) policy differs enough that some ratios leave [1 - eps, 1 + eps]
    old_dist_params = {k: v + 0.3 * rng.normal(size=v.shape).astype(np.float32)
                       for k, v in dist_params.items()}
    if discrete:
        old_probs = np.exp(_log_softmax(np.asarray(old_dist_params["logits"], np.float64)))
        action = np.array([rng.choice(NUM_ACTIONS, p=p / p.sum()) for p in old_probs])
        old_log_prob, _, _ = categorical_reference(old_dist_params, old_dist_params, action)
    else:
        old_mean = np.asarray(old_dist_params["mean"])
        action = (old_mean + np.exp(np.asarray(old_dist_params["log_std"]))
                  * rng.normal(size=old_mean.shape)).astype(np.float32)
        old_log_prob, _, _ = gaussian_reference(old_dist_params, old_dist_params, action)
    batch = Batch(
        obs=obs,
        action=jnp.asarray(action),
        log_prob=jnp.asarray(old_log_prob, jnp.float32),
        value=jnp.asarray(rng.normal(size=N), jnp.float32),
        advantage=jnp.asarray(rng.normal(size=N) * 3 + 1, jnp.float32),
        target=jnp.asarray(rng.normal(size=N), jnp.float32),
        dist_params=old_dist_params,
    )
    return network, params, batch


def ppo_loss_reference(network, params, batch, hp: HParams, kl_coef, options: LossOptions):
    dist_params, value = network.apply(params, batch.obs)
    reference = categorical_reference if "logits" in dist_params else gaussian_reference
    action = np.asarray(batch.action)
    log_prob, entropy, kl = reference(dist_params, batch.dist_params, action)
    ratio = np.exp(log_prob - np.asarray(batch.log_prob, np.float64))
    adv = np.asarray(batch.advantage, np.float64)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    if options.objective == "clip":
        surrogate = np.minimum(ratio * adv, np.clip(ratio, 1 - hp.clip_eps, 1 + hp.clip_eps) * adv)
    elif options.objective == "none":
        surrogate = ratio * adv
    else:
        surrogate = ratio * adv - kl_coef * kl
    if options.dual_clip:
        surrogate = np.where(adv < 0, np.maximum(surrogate, hp.dual_clip_coef * adv), surrogate)
    policy_loss = -surrogate.mean()
    v_loss = value_loss_reference(np.asarray(value, np.float64), np.asarray(batch.value),
                                  np.asarray(batch.target), hp.clip_eps, options.clip_value_loss)
    loss = policy_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy.mean()
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": v_loss,
        "entropy": entropy.mean(),
        "approx_kl": ((ratio - 1) - np.log(ratio)).mean(),
        "kl": kl.mean(),
        "clip_fraction": (np.abs(ratio - 1) > hp.clip_eps).mean(),
    }
    return loss, metrics


LOSS_OPTIONS = {
    "clip": LossOptions("clip", False, True),
    "clip_no_value_clip": LossOptions("clip", False, False),
    "none": LossOptions("none", False, True),
    "kl_penalty": LossOptions("kl_penalty", False, True),
    "adaptive_kl": LossOptions("adaptive_kl", False, False),
    "clip_dual_clip": LossOptions("clip", True, True),
}
DISTRIBUTIONS = {"categorical": True, "gaussian": False}


def _on_obs(network):
    """ppo_loss's apply_fn for a feed-forward network: the network on the batch's observations."""
    return lambda params, batch: network.apply(params, batch.obs)


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS), ids=list(DISTRIBUTIONS))
@pytest.mark.parametrize("option", list(LOSS_OPTIONS), ids=list(LOSS_OPTIONS))
def test_ppo_loss_matches_numpy_reference(dist, option):
    network, params, batch = _make_case(DISTRIBUTIONS[dist], seed=3)
    hp = HParams(clip_eps=0.2, ent_coef=0.05, vf_coef=0.7, dual_clip_coef=1.5)
    kl_coef, options = 0.8, LOSS_OPTIONS[option]
    loss, metrics = ppo_loss(params, _on_obs(network), batch, hp, jnp.float32(kl_coef), options)
    want_loss, want_metrics = ppo_loss_reference(network, params, batch, hp, kl_coef, options)
    assert float(loss) == pytest.approx(want_loss, rel=1e-4, abs=1e-5)
    assert set(want_metrics) <= set(metrics)
    for name, want in want_metrics.items():
        assert float(metrics[name]) == pytest.approx(want, rel=1e-4, abs=1e-5), name
    # the case exercises clipping (otherwise "clip" and "none" would coincide)
    assert 0.0 < float(metrics["clip_fraction"]) < 1.0


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS), ids=list(DISTRIBUTIONS))
def test_unchanged_policy_has_ratio_one(dist):
    network, params, batch = _make_case(DISTRIBUTIONS[dist], seed=4)
    dist_params, _ = network.apply(params, batch.obs)
    reference = categorical_reference if DISTRIBUTIONS[dist] else gaussian_reference
    log_prob, _, _ = reference(dist_params, dist_params, np.asarray(batch.action))
    batch = batch.replace(dist_params=dist_params, log_prob=jnp.asarray(log_prob, jnp.float32))
    hp = HParams()
    _, metrics = ppo_loss(params, _on_obs(network), batch, hp, jnp.float32(1.0), LossOptions())
    assert float(metrics["clip_fraction"]) == 0.0
    assert float(metrics["approx_kl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(metrics["kl"]) == pytest.approx(0.0, abs=1e-6)
    # ratio 1: the surrogate is the mean normalized advantage, i.e. 0
    assert float(metrics["policy_loss"]) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS), ids=list(DISTRIBUTIONS))
def test_entropy_bonus_lowers_the_loss(dist):
    network, params, batch = _make_case(DISTRIBUTIONS[dist], seed=5)
    losses, entropies = [], []
    for ent_coef in (0.0, 0.5):
        hp = HParams(ent_coef=ent_coef)
        loss, metrics = ppo_loss(params, _on_obs(network), batch, hp, jnp.float32(1.0), LossOptions())
        losses.append(float(loss))
        entropies.append(float(metrics["entropy"]))
    assert entropies[0] == entropies[1]
    assert losses[1] - losses[0] == pytest.approx(-0.5 * entropies[0], rel=1e-4)
    if DISTRIBUTIONS[dist]:
        assert entropies[0] > 0  # a Categorical's entropy is positive
        assert losses[1] < losses[0]


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS), ids=list(DISTRIBUTIONS))
def test_ppo_loss_and_gradients_are_finite(dist):
    network, params, batch = _make_case(DISTRIBUTIONS[dist], seed=6)
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

    @jit_fast  # one compile for every objective
    def all_objectives(params, batch, hp):
        return {name: grad_fn(params, _on_obs(network), batch, hp, jnp.float32(1.0), options)
                for name, options in LOSS_OPTIONS.items()}

    results = all_objectives(params, batch, HParams())
    for name, ((loss, metrics), grads) in results.items():
        chex.assert_shape(loss, ())
        chex.assert_tree_all_finite((loss, metrics, grads))
        assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads)), name
