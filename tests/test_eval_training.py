"""Evaluation inside the jitted training loop (`eval_every`), the best policy, the absolute metric.

Probe env: the one-step choice of tests/test_probes.py (reward 1 for action 1),
whose optimum return is exactly 1. Tiny CartPole configs check where
evaluation runs, that it leaves training untouched (frozen normalization
statistics, its own keys and envs), chunked == whole runs, and seeds.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from conftest import jit_fast, tiny_config
from test_probes import OneStepChoiceEnv

import ppo_jax
from ppo_jax.core.context import make_context
from ppo_jax.core.iteration import METRIC_NAMES, eval_key
from ppo_jax.core.rollout import play_episodes

TRAINING_METRICS = [n for n in METRIC_NAMES if not n.startswith("eval_")]


def test_probe_eval_return_is_the_optimum_once_trained():
    env = OneStepChoiceEnv()
    config = ppo_jax.PPOConfig(
        total_timesteps=20 * 8 * 32, num_envs=8, num_steps=32, num_minibatches=4, update_epochs=4,
        hidden_sizes=(32,), anneal_lr=False, clip_value_loss=False, eval_every=5, eval_episodes=16,
        hparams=ppo_jax.HParams(learning_rate=3e-3, ent_coef=0.0),
    )
    out = jit_fast(ppo_jax.make_train(config, env=env))(jax.random.key(0))
    ret, length = np.asarray(out.metrics["eval_return"]), np.asarray(out.metrics["eval_length"])
    evaluated = (np.arange(1, 21) % 5) == 0
    np.testing.assert_array_equal(np.isfinite(ret), evaluated)
    np.testing.assert_array_equal(length[evaluated], 1.0)  # one-step episodes
    assert ret[-1] == 1.0  # the deterministic policy takes the rewarded action
    # the best policy is kept, and re-evaluated on many more episodes it still scores 1
    assert float(out.state.best.eval_return) == 1.0
    assert int(out.state.best.update_step) in (5, 10, 15, 20)
    returns = ppo_jax.absolute_metric(config, out, jax.random.key(1), num_episodes=300, env=env)
    assert returns.shape == (300,)
    np.testing.assert_array_equal(np.asarray(returns), 1.0)


def _cartpole(**overrides):
    return tiny_config(num_updates=4, normalize_observations=True, **overrides)


@pytest.fixture(scope="module")
def evaluated_and_plain():
    """(config, output) with evaluation every 2 updates, and the same run without evaluation."""
    config = _cartpole(eval_every=2, eval_episodes=3)
    with_eval = jit_fast(ppo_jax.make_train(config))(jax.random.key(3))
    plain = jit_fast(ppo_jax.make_train(config.replace(eval_every=0)))(jax.random.key(3))
    return config, with_eval, plain


def test_eval_metrics_are_nan_exactly_where_no_evaluation_ran(evaluated_and_plain):
    _, with_eval, plain = evaluated_and_plain
    for name in ("eval_return", "eval_length"):
        np.testing.assert_array_equal(np.isfinite(with_eval.metrics[name]), [False, True, False, True])
        assert np.all(np.isnan(plain.metrics[name]))  # off: the metric is there, all NaN
    assert np.all(np.asarray(with_eval.metrics["eval_length"])[[1, 3]] >= 1)
    assert plain.state.best is None


def test_evaluation_leaves_training_and_normalizer_statistics_untouched(evaluated_and_plain):
    _, with_eval, plain = evaluated_and_plain
    # the same training (two programs: equal up to float rounding of different fusions)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for name in TRAINING_METRICS:
        np.testing.assert_allclose(with_eval.metrics[name], plain.metrics[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    np.testing.assert_array_equal(with_eval.metrics["timesteps"], plain.metrics["timesteps"])
    # evaluation acts on its own envs with the statistics frozen: they count the training
    # observations only (4 updates x 2 envs x 8 steps), not the evaluation episodes' steps
    np.testing.assert_array_equal(with_eval.state.obs_stats.count, plain.state.obs_stats.count)
    jax.tree.map(close, with_eval.state.obs_stats, plain.state.obs_stats)
    jax.tree.map(close, with_eval.state.params, plain.state.params)


def test_evaluation_plays_the_updated_policy_with_the_states_statistics(evaluated_and_plain):
    """eval_return at update 2 is play_episodes of the state after update 2, with its own
    (frozen) obs statistics and the evaluation key of that update; chunked == whole."""
    config, with_eval, _ = evaluated_and_plain
    trainer = ppo_jax.make_trainer(config)
    state0 = trainer.init(jax.random.key(3))
    state1, m1 = trainer.run(state0, num_updates=1)
    state2, m2 = trainer.run(state1, num_updates=1)
    state4, m34 = trainer.run(state2, num_updates=2)
    chunked = {k: np.concatenate([m1[k], m2[k], m34[k]]) for k in m1}
    # (the fixture's program is compiled with other options: equal up to float rounding)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for name in METRIC_NAMES:
        np.testing.assert_allclose(chunked[name], with_eval.metrics[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    jax.tree.map(close, state4.best, with_eval.state.best)

    ctx = make_context(config)
    returns, lengths = play_episodes(ctx, state2.params, state2.obs_stats, eval_key(state1.key),
                                     config.eval_episodes, True)
    np.testing.assert_allclose(m2["eval_return"][0], returns.mean(), rtol=1e-6)
    np.testing.assert_allclose(m2["eval_length"][0], lengths.mean(), rtol=1e-6)
    # statistics matter here: fresh (identity) ones give another policy input
    assert not np.allclose(np.asarray(state2.obs_stats.mean), 0.0)


def test_vmapped_seeds_evaluate_independently():
    config = _cartpole(eval_every=1, eval_episodes=2)
    outs = ppo_jax.train_seeds(config, num_seeds=3, seed=0)
    single = jit_fast(ppo_jax.make_train(config))
    keys = jax.random.split(jax.random.key(0), 3)
    for i in range(3):
        alone = single(keys[i])
        for name in ("eval_return", "eval_length"):
            np.testing.assert_allclose(outs.metrics[name][i], alone.metrics[name], rtol=1e-5)
        np.testing.assert_allclose(outs.state.best.eval_return[i], alone.state.best.eval_return)
    assert len({tuple(np.asarray(r)) for r in outs.metrics["eval_return"]}) == 3
    # best policy per seed, and the absolute metric per seed
    returns = ppo_jax.absolute_metric(config, outs, jax.random.key(1), num_episodes=4)
    assert returns.shape == (3, 4) and np.all(np.asarray(returns) >= 1)


def test_updates_without_evaluation_skip_it_under_vmap():
    """The evaluation's cond keeps an unbatched predicate under vmap (not a select that
    pays for both branches): the vmapped program still holds the evaluation in a cond."""
    def conds(config):
        train = ppo_jax.make_train(config)
        jaxpr = jax.make_jaxpr(jax.vmap(train, in_axes=(0, None)))(
            jax.random.split(jax.random.key(0), 2), config.hparams)
        return str(jaxpr).count("cond[")

    base = _cartpole()
    assert conds(base.replace(eval_every=2)) > conds(base)


def test_sweep_cells_carry_evaluation_like_train_seeds():
    config = _cartpole(eval_every=2, eval_episodes=2)
    res = ppo_jax.sweep(config, {"learning_rate": [1e-3, 3e-4]}, num_seeds=2, seed=0)
    assert res.metrics["eval_return"].shape == (2, 2, 4)
    outs = ppo_jax.train_seeds(res.configs[1], num_seeds=2, seed=0)
    np.testing.assert_allclose(res.metrics["eval_return"][1], outs.metrics["eval_return"], rtol=1e-5)
    np.testing.assert_array_equal(np.isfinite(res.metrics["eval_return"]),
                                  np.broadcast_to([False, True, False, True], (2, 2, 4)))


@pytest.mark.parametrize("field, value, match", [
    ("eval_every", 5, r"eval_every = 5 is larger than the number of updates 4"),
    ("eval_every", -1, r"eval_every must be an integer >= 0"),
    ("eval_every", 1.5, r"eval_every must be an integer >= 0"),
    ("eval_episodes", 0, r"eval_episodes must be a positive integer"),
    ("eval_deterministic", "yes", r"eval_deterministic must be True or False"),
])
def test_bad_eval_settings_are_refused_on_construction(field, value, match):
    with pytest.raises(ValueError, match=match):
        _cartpole(**{field: value})


def test_absolute_metric_needs_a_run_that_evaluated(evaluated_and_plain):
    config, _, plain = evaluated_and_plain
    with pytest.raises(ValueError, match="eval_every > 0"):
        ppo_jax.absolute_metric(config, plain, jax.random.key(0))
    with pytest.raises(ValueError, match="num_episodes must be a positive integer"):
        ppo_jax.absolute_metric(config, plain, jax.random.key(0), num_episodes=0)


def test_best_policy_survives_a_checkpoint_and_old_checkpoints_still_load(tmp_path, evaluated_and_plain):
    config, with_eval, plain = evaluated_and_plain
    ppo_jax.save(tmp_path / "eval", config, with_eval.state)
    _, loaded = ppo_jax.load(tmp_path / "eval")
    jax.tree.map(np.testing.assert_array_equal, loaded.best, with_eval.state.best)
    best = ppo_jax.best_state(loaded)
    jax.tree.map(np.testing.assert_array_equal, best.params, with_eval.state.best.params)

    # a checkpoint without a best policy (no evaluation, as every checkpoint before it
    # existed) loads under a config that evaluates, and training continues from it
    ppo_jax.save(tmp_path / "plain", config.replace(eval_every=0), plain.state)
    longer = config.replace(total_timesteps=config.total_timesteps * 2)
    _, state = ppo_jax.load(tmp_path / "plain", longer)
    assert state.best is None
    state, metrics = ppo_jax.make_trainer(longer).run(state, num_updates=2)
    assert np.isfinite(metrics["eval_return"][1]) and state.best is not None


def test_progress_bar_shows_the_last_eval_return():
    from conftest import RecordingHook
    hook = RecordingHook(every=3)
    config = _cartpole(eval_every=2, eval_episodes=2)
    ppo_jax.train_seeds(config, num_seeds=2, progress=hook)
    # every 3rd update, the last, and every update with an evaluation are reported
    assert [r.update for r in hook.reports] == [2, 3, 4]
    assert [r.num_evaluated for r in hook.reports] == [2, 0, 2]
    assert np.isfinite(hook.reports[0].mean_eval_return) and np.isnan(hook.reports[1].mean_eval_return)
    bar = ppo_jax.ProgressBar(file=__import__("io").StringIO())
    for report in hook.reports:
        bar(dataclasses.replace(report, total_updates=5))
    assert f"eval {hook.reports[2].mean_eval_return:.1f}" in bar.postfix(hook.reports[1])
