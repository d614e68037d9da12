"""Surrogate objectives (PPO paper, sections 3-4), dual clip, early stopping, exact KL.

Every numerical check is against a direct float64 numpy computation written
from the paper's formulas, on hand-made batches whose "network" is the
distribution parameters themselves (so d loss / d params is d loss / d logits,
or d mean and d log-std). Gradients are compared with central finite
differences of the numpy loss. Named cases: objective x distribution x dual clip.

Budgets: the unit tests are milliseconds each plus two tiny compiles of one
CartPole update; the two learning tests (marked slow) train 4 CartPole seeds
at the preset's 1.5e5 steps each (about 10 s per objective on 2 cores).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import best_window_return

import ppo_jax
from ppo_jax.analysis.statistics import final_return
from ppo_jax.core.distributions import make_distribution
from ppo_jax.core.iteration import KL_COEF_MAX, KL_COEF_MIN, adapt_kl_coef
from ppo_jax.core.loss import LossOptions, ppo_loss, surrogate_objective
from ppo_jax.core.types import Batch

OBJECTIVES = ("clip", "none", "kl_penalty", "adaptive_kl")
BETA = 0.7  # the beta handed to the loss in the KL objectives
HP = ppo_jax.HParams(clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, dual_clip_coef=3.0)


# ------------------------------------------------------ numpy reference ---


def np_log_softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_categorical(params, action):
    """(log_prob [N], entropy [N], log-probs [N, A]) of Categorical(logits)."""
    logp = np_log_softmax(params["logits"])
    log_prob = np.take_along_axis(logp, action[:, None], axis=-1)[:, 0]
    return log_prob, -(np.exp(logp) * logp).sum(-1), logp


def np_categorical_kl(old, new):
    """KL[old || new] = sum_a p_old (log p_old - log p_new), per row."""
    lo, ln = np_log_softmax(old["logits"]), np_log_softmax(new["logits"])
    return (np.exp(lo) * (lo - ln)).sum(-1)


def np_gaussian(params, action):
    """(log_prob [N], entropy [N]) of a diagonal Gaussian N(mean, exp(log_std)^2)."""
    mean, log_std = params["mean"], params["log_std"]
    z = (action - mean) / np.exp(log_std)
    log_prob = (-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    return log_prob, (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1), None


def np_gaussian_kl(old, new):
    """KL[old || new] = sum_d log(s_n / s_o) + (s_o^2 + (m_o - m_n)^2) / (2 s_n^2) - 1/2."""
    so, sn = np.exp(old["log_std"]), np.exp(new["log_std"])
    terms = np.log(sn / so) + (so**2 + (old["mean"] - new["mean"]) ** 2) / (2 * sn**2) - 0.5
    return terms.sum(-1)


def np_surrogate(ratio, adv, kl, objective, dual_clip, eps=0.2, beta=BETA, c=3.0):
    if objective == "clip":
        surr = np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv)
    elif objective == "none":
        surr = ratio * adv
    else:
        surr = ratio * adv - beta * kl
    if dual_clip:
        surr = np.where(adv < 0, np.maximum(surr, c * adv), surr)
    return surr


def np_ppo_loss(params, batch, case, objective, dual_clip, clip_value=True):
    """Total loss and its parts, float64, straight from the formulas."""
    kind = case["kind"]
    dist = np_categorical if kind == "categorical" else np_gaussian
    kl_fn = np_categorical_kl if kind == "categorical" else np_gaussian_kl
    log_prob, entropy, _ = dist(params, batch["action"])
    log_ratio = log_prob - batch["log_prob"]
    ratio = np.exp(log_ratio)
    kl = kl_fn(batch["dist_params"], params)
    adv = (batch["advantage"] - batch["advantage"].mean()) / (batch["advantage"].std() + 1e-8)
    policy_loss = -np_surrogate(ratio, adv, kl, objective, dual_clip).mean()
    value, old, target = params["value"], batch["value"], batch["target"]
    if clip_value:
        clipped = old + np.clip(value - old, -0.2, 0.2)
        value_loss = 0.5 * np.maximum((value - target) ** 2, (clipped - target) ** 2).mean()
    else:
        value_loss = 0.5 * ((value - target) ** 2).mean()
    loss = policy_loss + 0.5 * value_loss - 0.01 * entropy.mean()
    return loss, {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy.mean(),
        "approx_kl": ((ratio - 1) - log_ratio).mean(),
        "kl": kl.mean(),
        "clip_fraction": (np.abs(ratio - 1) > 0.2).mean(),
    }


def np_grad(fn, params):
    """Central finite differences of a float64 scalar fn over a dict of arrays."""
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            hi, lo = dict(params), dict(params)
            hi[name], lo[name] = value.copy(), value.copy()
            hi[name][idx] += 1e-6
            lo[name][idx] -= 1e-6
            g[idx] = (fn(hi) - fn(lo)) / 2e-6
        grads[name] = g
    return grads


# ------------------------------------------------------ hand-made batches ---


# Per sample: the advantage and the ratio pi_new(a|s) / pi_old(a|s) built into
# the batch. Clip (eps 0.2) binds on 0, 1, 6; inside the range: 2, 5; below it
# with A > 0 (unclipped): 4; above it with A < 0 (unclipped): 3, 7; dual clip
# (c 3) binds on 3 only.
ADVANTAGE = np.array([1.5, -0.7, 2.0, -2.2, 0.4, -0.1, 1.1, -1.3])
RATIO = np.array([1.6, 0.5, 0.9, 4.0, 0.3, 1.1, 2.5, 1.4])


def make_case(kind: str) -> dict:
    """A hand-made batch of N = 8 samples whose new/old ratios are RATIO.

    Returns float64 numpy `params` (the new distribution parameters + values)
    and `batch` (the old ones, actions, advantages...). Everything besides the
    ratios (other logits, means, stds, values) is random, away from the
    value-clip kinks.
    """
    rng = np.random.default_rng(0 if kind == "categorical" else 1)
    n = len(RATIO)
    if kind == "categorical":
        old = {"logits": rng.normal(size=(n, 3))}
        new = {"logits": old["logits"] + rng.normal(scale=0.8, size=(n, 3))}
        logp = np_log_softmax(old["logits"])
        action = np.argmin(logp, axis=-1)  # least likely: room for ratio 4
        log_prob_old = logp[np.arange(n), action]
        for i, a in enumerate(action):  # the taken action's new logit sets the ratio
            p_new = RATIO[i] * np.exp(log_prob_old[i])
            rest = np.delete(new["logits"][i], a)
            new["logits"][i, a] = np.log(p_new / (1 - p_new)) + np.log(np.exp(rest).sum())
    else:
        d, half_log_2pi = 2, 0.5 * np.log(2 * np.pi)
        old = {"mean": rng.normal(size=(n, d)), "log_std": rng.normal(scale=0.3, size=(n, d))}
        action = old["mean"] + np.exp(old["log_std"]) * rng.normal(size=(n, d))
        log_prob_old = np_gaussian(old, action)[0]
        log_std = old["log_std"] + rng.normal(scale=0.2, size=(n, d))
        target = log_prob_old + np.log(RATIO)
        peak = (-log_std - half_log_2pi).sum(-1)  # log density at the mean
        log_std -= np.maximum(target + 0.5 - peak, 0.0)[:, None] / d
        peak = (-log_std - half_log_2pi).sum(-1)
        direction = rng.normal(size=(n, d))
        t = np.sqrt(2 * (peak - target) / (direction**2 / np.exp(2 * log_std)).sum(-1))
        new = {"mean": action + t[:, None] * direction, "log_std": log_std}
    ratio = np.exp((np_categorical if kind == "categorical" else np_gaussian)(new, action)[0]
                   - log_prob_old)
    np.testing.assert_allclose(ratio, RATIO, rtol=1e-9)
    old_value = rng.normal(size=n)
    params = dict(new, value=old_value + np.array([0.5, -0.05, 0.1, -0.6, 0.3, 0.02, -0.15, 0.9]))
    batch = {
        "obs": np.zeros((n, 1)),
        "action": action,
        "log_prob": log_prob_old,
        "value": old_value,
        "advantage": ADVANTAGE,
        "target": old_value + rng.normal(size=n),
        "dist_params": old,
    }
    return {"kind": kind, "params": params, "batch": batch}


def to_jax(case):
    """(params, Batch, apply_fn) in float32 for ppo_loss."""
    f32 = lambda x: jnp.asarray(x, jnp.int32 if x.dtype.kind == "i" else jnp.float32)
    params = jax.tree.map(f32, case["params"])
    b = jax.tree.map(f32, case["batch"])
    batch = Batch(obs=b["obs"], action=b["action"], log_prob=b["log_prob"], value=b["value"],
                  advantage=b["advantage"], target=b["target"], dist_params=b["dist_params"])

    def apply_fn(p, obs):
        return {k: v for k, v in p.items() if k != "value"}, p["value"]

    return params, batch, apply_fn


def jax_loss_and_grad(case, objective, dual_clip, hparams=HP, kl_coef=BETA):
    params, batch, apply_fn = to_jax(case)
    options = LossOptions(objective=objective, dual_clip=dual_clip, clip_value_loss=True)
    fn = jax.jit(jax.value_and_grad(ppo_loss, has_aux=True), static_argnums=(1, 5))
    (loss, metrics), grads = fn(params, apply_fn, batch, hparams, jnp.float32(kl_coef), options)
    return float(loss), {k: float(v) for k, v in metrics.items()}, jax.tree.map(np.asarray, grads)


CASES = {kind: make_case(kind) for kind in ("categorical", "gaussian")}


# ------------------------------------------------------ the beta update ---


def test_adaptive_beta_rule_hand_worked_sequence():
    """d_targ = 0.01: thresholds d_targ / 1.5 = 0.00667 and 1.5 d_targ = 0.015 (strict)."""
    kls = [0.001, 0.01, 0.02, 0.0066, 0.0067, 0.015, 0.0151, 0.5, 0.0]
    # halve, keep, double, halve, keep, keep (= 1.5 d_targ), double, double, halve
    expected = [0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 1.0, 2.0, 1.0]
    beta, seen = jnp.float32(1.0), []
    step = jax.jit(adapt_kl_coef)
    for kl in kls:
        beta = step(beta, jnp.float32(kl), 0.01)
        seen.append(float(beta))
    np.testing.assert_allclose(seen, expected, rtol=0, atol=0)


def _numpy_beta_rule(beta: float, kl: float, target: float) -> float:
    if kl < target / 1.5:
        beta /= 2.0
    elif kl > 1.5 * target:
        beta *= 2.0
    return min(max(beta, KL_COEF_MIN), KL_COEF_MAX)


def test_adaptive_beta_follows_the_rule_from_the_kl_after_each_update(make_tiny_config, fast_jit):
    """End to end: `kl_after_update` is the exact KL[pi_before || pi_after] over the
    update's whole rollout batch (recomputed here from the states before and after
    update 0), and beta at update u + 1 is the paper's rule applied to beta and that
    KL at update u. A small d_targ and a large one make beta both halve and double."""
    from ppo_jax.core.context import make_context
    from ppo_jax.core.normalize import init_reward_scaler
    from ppo_jax.core.rollout import EpisodeTally, RolloutCarry, collect_rollout
    from ppo_jax.networks.feedforward import ActorCritic

    config = make_tiny_config(num_updates=6, num_envs=4, num_steps=16, update_epochs=4,
                              objective="adaptive_kl", hparams=ppo_jax.HParams(learning_rate=3e-3))
    trainer = ppo_jax.make_trainer(config)
    run = fast_jit(trainer.run, static_argnames="num_updates")
    for target in (1e-5, 10.0):
        hp = config.hparams.replace(kl_target=target)
        state0 = trainer.init(jax.random.key(0), hp)
        _, metrics = run(state0, hp, num_updates=6)
        kl, beta = np.asarray(metrics["kl_after_update"]), np.asarray(metrics["kl_coef"])
        assert np.all(np.isfinite(kl)) and np.all(kl >= 0) and kl.max() > 0
        for u in range(5):
            assert beta[u + 1] == pytest.approx(_numpy_beta_rule(beta[u], kl[u], target), rel=1e-6), u
        assert beta[-1] < 1.0 if target > 1.0 else beta[-1] > 1.0

    # kl_after_update of update 0, recomputed from the rollout the update trained on.
    state1, metrics = run(state0, hp, num_updates=1)
    ctx = make_context(config)
    _, rollout_key, _ = jax.random.split(state0.key, 3)
    carry = RolloutCarry(state0.env_state, state0.obs, state0.obs_stats,
                         init_reward_scaler(config.num_envs), EpisodeTally.zeros())
    _, traj = collect_rollout(carry, rollout_key, adapter=ctx.adapter, network=ctx.network,
                              params=state0.params, gamma=hp.gamma, num_steps=config.num_steps,
                              normalize_observations=False, normalize_rewards=False)
    old = np.asarray(jax.nn.log_softmax(traj.dist_params["logits"]), np.float64)
    new_logits = ctx.network.apply(state1.params, traj.obs, method=ActorCritic.policy)["logits"]
    new = np.asarray(jax.nn.log_softmax(new_logits), np.float64)
    expected = np.mean(np.sum(np.exp(old) * (old - new), axis=-1))
    assert float(metrics["kl_after_update"][0]) == pytest.approx(expected, rel=1e-3, abs=1e-9)


def test_adaptive_beta_rule_is_elementwise_over_targets():
    """Batched (swept) targets: each agent's beta follows its own d_targ."""
    targets = jnp.array([0.003, 0.01, 0.03])
    beta = adapt_kl_coef(jnp.ones(3), jnp.full(3, 0.01), targets)
    np.testing.assert_array_equal(np.asarray(beta), [2.0, 1.0, 0.5])


def test_adaptive_beta_never_reaches_zero_or_inf():
    """A float32 beta halved 200 times would underflow to 0 and could never double back."""
    beta = jnp.float32(1.0)
    for _ in range(200):
        beta = adapt_kl_coef(beta, jnp.float32(0.0), 0.01)
    assert float(beta) == pytest.approx(KL_COEF_MIN)
    assert float(adapt_kl_coef(beta, jnp.float32(1.0), 0.01)) == pytest.approx(2 * KL_COEF_MIN)
    for _ in range(200):
        beta = adapt_kl_coef(beta, jnp.float32(1.0), 0.01)
    assert float(beta) == pytest.approx(KL_COEF_MAX)


# ------------------------------------------- losses and their gradients ---


@pytest.mark.parametrize("dual_clip", [False, True], ids=["plain", "dual_clip"])
@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_loss_and_gradient_match_numpy(objective, kind, dual_clip):
    case = CASES[kind]
    np_loss, np_metrics = np_ppo_loss(case["params"], case["batch"], case, objective, dual_clip)
    loss, metrics, grads = jax_loss_and_grad(case, objective, dual_clip)

    assert loss == pytest.approx(np_loss, rel=1e-5, abs=1e-6)
    for name, value in np_metrics.items():
        assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    fd = np_grad(lambda p: np_ppo_loss(p, case["batch"], case, objective, dual_clip)[0],
                 case["params"])
    for name in fd:
        np.testing.assert_allclose(grads[name], fd[name], rtol=1e-4, atol=2e-6, err_msg=name)


def test_hand_made_batch_exercises_every_branch():
    """RATIO x ADVANTAGE (normalized) covers every branch of clip and dual clip."""
    adv = (ADVANTAGE - ADVANTAGE.mean()) / ADVANTAGE.std()
    np.testing.assert_array_equal(np.sign(adv), np.sign(ADVANTAGE))
    clipped = np.clip(RATIO, 0.8, 1.2) * adv < RATIO * adv  # min() picks the clipped term
    np.testing.assert_array_equal(np.flatnonzero(clipped), [0, 1, 6])
    np.testing.assert_array_equal(np.flatnonzero(np.abs(RATIO - 1) < 0.2), [2, 5])
    np.testing.assert_array_equal(np.flatnonzero((adv < 0) & (RATIO * adv < 3 * adv)), [3])


def test_kl_objectives_differ_from_none_by_exactly_beta_kl():
    case = CASES["gaussian"]
    loss_none, m_none, _ = jax_loss_and_grad(case, "none", False)
    for objective in ("kl_penalty", "adaptive_kl"):
        loss_kl, m_kl, _ = jax_loss_and_grad(case, objective, False)
        assert loss_kl - loss_none == pytest.approx(BETA * m_kl["kl"], rel=1e-4)
        assert m_kl["kl"] > 0.05


# ------------------------------------------------- no clipping in "none" ---


def far_outside_case():
    """Categorical batch whose ratios are 3 where A > 0 and 0.2 where A < 0."""
    rng = np.random.default_rng(2)
    n, a = 6, 3
    old = rng.normal(size=(n, a))
    action = rng.integers(0, a, n)
    adv = np.array([1.0, -1.0, 2.0, -0.5, 0.7, -1.5])
    target_ratio = np.where(adv > 0, 3.0, 0.2)
    # Raise the taken action's logit until its probability is target_ratio * p_old.
    logp_old = np_log_softmax(old)
    p_old = np.exp(logp_old[np.arange(n), action])
    p_new = target_ratio * p_old
    assert np.all(p_new < 1)
    others = np.log(np.exp(old).sum(-1) - np.exp(old[np.arange(n), action]))
    new = old.copy()
    new[np.arange(n), action] = np.log(p_new / (1 - p_new)) + others
    batch = {"obs": np.zeros((n, 1)), "action": action, "log_prob": logp_old[np.arange(n), action],
             "value": np.zeros(n), "advantage": adv, "target": np.zeros(n), "dist_params": {"logits": old}}
    case = {"kind": "categorical", "params": {"logits": new, "value": np.zeros(n)}, "batch": batch}
    return case, target_ratio


def test_none_is_not_clipped_far_outside_the_clip_range():
    case, ratio = far_outside_case()
    hp = HP.replace(ent_coef=0.0, vf_coef=0.0)
    _, m_clip, g_clip = jax_loss_and_grad(case, "clip", False, hparams=hp)
    _, m_none, g_none = jax_loss_and_grad(case, "none", False, hparams=hp)
    assert m_clip["clip_fraction"] == 1.0

    # L^CLIP: every sample is clipped on its flat side, so no gradient at all.
    np.testing.assert_allclose(g_clip["logits"], 0.0, atol=1e-7)
    # L^CPI: -mean(r A) has d / d logits_ik = -r_i A_i (onehot(a_i)_k - p_ik) / N.
    b = case["batch"]
    adv = (b["advantage"] - b["advantage"].mean()) / (b["advantage"].std() + 1e-8)
    p = np.exp(np_log_softmax(case["params"]["logits"]))
    onehot = np.eye(3)[b["action"]]
    expected = -(ratio * adv)[:, None] * (onehot - p) / len(adv)
    np.testing.assert_allclose(g_none["logits"], expected, rtol=1e-4, atol=1e-7)
    assert np.linalg.norm(g_none["logits"], axis=1).min() > 1e-2  # every sample pushes
    assert m_none["policy_loss"] == pytest.approx(-(ratio * adv).mean(), rel=1e-5)


# --------------------------------------------------------- dual clip ---


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_dual_clip_bounds_the_objective_for_negative_advantages(objective):
    ratio, adv = np.meshgrid(np.array([0.0, 0.5, 1.0, 1.5, 2.9, 3.1, 10.0, 100.0]),
                             np.array([-2.0, -0.5, 0.5, 2.0]), indexing="ij")
    ratio, adv = ratio.ravel(), adv.ravel()
    kl = np.full_like(ratio, 0.05)
    hp = HP.replace(dual_clip_coef=3.0)

    def surrogate(r, dual):
        opts = LossOptions(objective=objective, dual_clip=dual)
        return surrogate_objective(r, jnp.asarray(adv, jnp.float32), jnp.asarray(kl, jnp.float32),
                                   hp, jnp.float32(BETA), opts)

    r32 = jnp.asarray(ratio, jnp.float32)
    plain, dual = np.asarray(surrogate(r32, False)), np.asarray(surrogate(r32, True))
    np.testing.assert_allclose(dual, np_surrogate(ratio, adv, kl, objective, True), rtol=1e-6)
    neg = adv < 0
    assert np.all(dual[neg] >= 3.0 * adv[neg] - 1e-6)          # bounded below by c A
    np.testing.assert_array_equal(dual[~neg], plain[~neg])     # A > 0 untouched
    assert np.all(plain[neg & (ratio >= 10)] < 3.0 * adv[neg & (ratio >= 10)])  # it did bind
    # Where the bound binds, a larger ratio no longer changes the objective.
    grad = jax.grad(lambda r: surrogate(r, True).sum())(r32)
    np.testing.assert_array_equal(np.asarray(grad)[neg & (ratio >= 10)], 0.0)


# -------------------------------------------------------- the exact KL ---


def test_exact_kl_categorical_matches_numpy():
    rng = np.random.default_rng(3)
    old, new = {"logits": rng.normal(size=(5, 4))}, {"logits": rng.normal(size=(5, 4))}
    f32 = lambda d: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), d)
    kl = make_distribution(f32(old)).kl_divergence(make_distribution(f32(new)))
    np.testing.assert_allclose(np.asarray(kl), np_categorical_kl(old, new), rtol=1e-5, atol=1e-6)
    same = make_distribution(f32(old)).kl_divergence(make_distribution(f32(old)))
    np.testing.assert_allclose(np.asarray(same), 0.0, atol=1e-6)


def test_exact_kl_diagonal_gaussian_matches_numpy():
    rng = np.random.default_rng(4)
    old = {"mean": rng.normal(size=(5, 3)), "log_std": rng.normal(scale=0.5, size=(5, 3))}
    new = {"mean": rng.normal(size=(5, 3)), "log_std": rng.normal(scale=0.5, size=(5, 3))}
    f32 = lambda d: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), d)
    kl = make_distribution(f32(old)).kl_divergence(make_distribution(f32(new)))
    np.testing.assert_allclose(np.asarray(kl), np_gaussian_kl(old, new), rtol=1e-5, atol=1e-6)
    same = make_distribution(f32(old)).kl_divergence(make_distribution(f32(old)))
    np.testing.assert_allclose(np.asarray(same), 0.0, atol=1e-6)


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_loss_kl_is_zero_when_policy_is_unchanged(kind):
    """New params = the stored old params: exact KL, approx KL and the penalty vanish."""
    case = CASES[kind]
    same = {"kind": kind, "batch": case["batch"],
            "params": dict(case["batch"]["dist_params"], value=case["params"]["value"])}
    _, metrics, _ = jax_loss_and_grad(same, "kl_penalty", False)
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["approx_kl"] == pytest.approx(0.0, abs=1e-6)
    adv = case["batch"]["advantage"]
    assert metrics["policy_loss"] == pytest.approx(-((adv - adv.mean()) / adv.std()).mean(), abs=1e-6)


# ---------------------------------------------------------- early stop ---

EARLY_STOP_CONFIG = ppo_jax.PPOConfig(
    env="CartPole-v1", total_timesteps=512, num_envs=4, num_steps=128, num_minibatches=4,
    update_epochs=4, objective="adaptive_kl", anneal_lr=False, early_stop=True,
)


def test_early_stop_skips_every_minibatch_after_the_first():
    """early_stop_kl = 1e-6: the first step (KL 0, params = rollout params) runs, and
    the KL it causes stops the other 15 of 4 epochs x 4 minibatches. The same
    compiled update with early_stop_kl = 1e9 (never stops) is the reference."""
    config = EARLY_STOP_CONFIG
    key = jax.random.key(7)
    init = ppo_jax.make_trainer(config).init(key, config.hparams).params
    train = jax.jit(ppo_jax.make_train(config))

    def one_update(early_stop_kl):
        out = train(key, config.hparams.replace(early_stop_kl=early_stop_kl))
        delta = jax.tree.leaves(jax.tree.map(lambda a, b: np.ravel(a - b), out.state.params, init))
        return jax.tree.map(lambda x: float(x[0]), out.metrics), np.concatenate(delta)

    stopped_metrics, stopped = one_update(1e-6)
    full_metrics, full = one_update(1e9)
    lr = float(config.hparams.learning_rate)

    assert stopped_metrics["early_stopped"] == pytest.approx(15 / 16)
    assert full_metrics["early_stopped"] == 0.0
    # One Adam step moves no parameter by more than the learning rate; 16 steps do.
    assert np.abs(stopped).max() <= lr * (1 + 1e-3)
    assert np.abs(full).max() > 2 * lr
    assert np.linalg.norm(stopped) < np.linalg.norm(full)
    # Metrics average only the minibatch steps that ran: the first had KL ~0.
    assert stopped_metrics["approx_kl"] <= 1e-6 < full_metrics["approx_kl"]
    assert stopped_metrics["kl"] <= 1e-6 < full_metrics["kl"]


# ------------------------------------------------------------- learning ---


def final_returns(metrics: dict) -> np.ndarray:
    """Per seed: the library's final return (mean episode return over the last 10% of updates)."""
    return final_return(metrics["episode_return"])


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["adaptive_kl", "kl_penalty"])
def test_cartpole_learns_with_kl_objectives(objective):
    """The CartPole preset's settings and budget (150k steps) with the KL objective, beta
    (start) 1, d_targ 0.01: 4 seeds. Every seed learns (its best 10 updates in a row
    average at least 300) and the seeds' mean final return is at least 300; an agent that
    never learned ends near 20.

    Why not "solved" on every seed: with the KL objectives a seed now and then learns
    slowly or dips late, and which seed does changes with the machine (the same program
    rounds differently on another CPU, and the runs drift apart). Measured on seed sets
    0, 1000 and 2000 (2 cores, AMD EPYC Zen 3): final returns kl_penalty [500, 500, 171.8, 500],
    [500, 300, 500, 500], [232.5, 500, 500, 500] (best windows 459 to 500, one 387.8);
    adaptive_kl [500, 500, 500, 173.4], [500, 500, 500, 500] (best windows 493.6 to 500).
    On an earlier machine seed set 0 ended at 500, 496.8, 500, 500 and at 500 on every
    seed."""
    config = ppo_jax.preset("CartPole-v1", objective=objective, kl_coef=1.0)
    out = ppo_jax.train_seeds(config, num_seeds=4, seed=0)
    metrics = jax.tree.map(np.asarray, out.metrics)
    final, best = final_returns(metrics), best_window_return(metrics["episode_return"])
    assert best.min() >= 300, f"{objective}: best 10-update mean return per seed {best.round(1)}"
    assert final.mean() >= 300, f"{objective}: final returns per seed {final.round(1)}"

    beta = metrics["kl_coef"]
    np.testing.assert_array_equal(beta[:, 0], 1.0)
    if objective == "kl_penalty":
        np.testing.assert_array_equal(beta, 1.0)
    else:  # every update halves, keeps or doubles beta (within its bounds)
        steps = beta[:, 1:] / beta[:, :-1]
        at_bound = np.isclose(beta[:, 1:], KL_COEF_MIN) | np.isclose(beta[:, 1:], KL_COEF_MAX)
        ok = np.isclose(steps, 0.5) | np.isclose(steps, 1.0) | np.isclose(steps, 2.0) | at_bound
        assert ok.all()
        assert np.all(beta >= KL_COEF_MIN * (1 - 1e-6)) and np.any(beta < 1.0)
    assert np.all(np.isfinite(metrics["kl"])) and np.all(metrics["kl"] >= -1e-6)


# ------------------------------------------------- the ablation's scoring ---


def load_ablation():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "ablation.py"
    spec = importlib.util.spec_from_file_location("ablation_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_scores_and_normalization():
    ablation = load_ablation()
    # Updates ended 50, 60, 70 episodes with mean returns 1, 2, 3: the last 100
    # episodes are 70 of the last update and 30 of the one before.
    returns, counts = np.array([[1.0, 2.0, 3.0]]), np.array([[50.0, 60.0, 70.0]])
    assert ablation.last_episodes_return(returns, counts, 100)[0] == pytest.approx(2.7)
    assert ablation.last_episodes_return(returns, counts, 1000)[0] == pytest.approx(380 / 180)
    nan_first = np.array([[np.nan, 2.0, 3.0]]), np.array([[0.0, 60.0, 70.0]])
    assert ablation.last_episodes_return(*nan_first, 100)[0] == pytest.approx(2.7)

    scores = {"a": np.array([[-100.0, -80.0], [-50.0, -30.0]])}  # [settings, seeds]
    norm = ablation.normalize_scores(scores, {"a": -140.0})["a"]
    np.testing.assert_allclose(norm.mean(axis=1), [0.5, 1.0])  # random 0, best setting 1


def test_ablation_settings_are_the_papers_rows():
    ablation = load_ablation()
    names = [name for name, _ in ablation.SETTINGS]
    assert len(names) == 11 and len({s["objective"] for _, s in ablation.SETTINGS}) == 4
    assert ablation.DEFAULT_REFERENCE.is_relative_to(ablation.REPO_ROOT)  # ships with the repo
    assert list(ablation.read_reference(ablation.DEFAULT_REFERENCE)) == names


def test_ablation_brax_mode_runs_the_papers_seven_tasks_and_checks_options_first():
    ablation = load_ablation()
    args = ablation.parse_args(["--brax"])
    assert args.envs == list(ablation.PAPER_BRAX_ENVS) and len(args.envs) == 7
    assert ablation.env_options("brax/hopper", args) == {"backend": "generalized"}
    assert ablation.env_options("Pendulum-v1", args) == {}
    assert ablation.parse_args([]).envs == list(ablation.DEFAULT_ENVS)
    with pytest.raises(ValueError, match="backend"):  # named, before anything compiles
        ablation.parse_args(["--brax", "--brax-backend", "warp-drive"])
