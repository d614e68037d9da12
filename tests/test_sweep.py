"""ppo_jax.sweep: grids x seeds against single runs, compile counts, sharding, results, errors.

Budgets are tiny (2 envs x 16 steps, 3 updates): these tests check plumbing
and equivalence, not learning. Compiles dominate their time, so the reference
train function and the 3 x 2 sweep are module fixtures shared by the tests.
"""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import CompileCounter, run_on_four_cpu_devices

import ppo_jax
from ppo_jax import SweepResult, random_search, sweep
from ppo_jax.analysis import statistics
from ppo_jax.analysis.frames import tidy_metrics
from ppo_jax.parallel import compile as population
from ppo_jax.population import grids
from ppo_jax.train import seed_keys

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = ppo_jax.PPOConfig(
    env="CartPole-v1", total_timesteps=96, num_envs=2, num_steps=16, num_minibatches=2,
    update_epochs=1, hidden_sizes=(8,),
)
GRID = {"learning_rate": [1e-4, 3e-4, 1e-3], "clip_eps": [0.1, 0.2]}
NUM_SEEDS = 4


def assert_metrics_close(actual: dict, expected: dict, where: str) -> None:
    assert set(actual) == set(expected)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{where}: {name}")


@pytest.fixture(scope="module")
def single_train():
    """jit(train) for CONFIG: the independent reference (one compile, many calls)."""
    return jax.jit(ppo_jax.make_train(CONFIG))


@pytest.fixture(scope="module")
def grid_result() -> SweepResult:
    population.clear_cache()  # a fresh compile, whatever ran before
    return sweep(CONFIG, GRID, num_seeds=NUM_SEEDS, seed=0)


def reference_metrics(train, config: ppo_jax.PPOConfig, key) -> dict:
    hparams = jax.tree.map(np.float32, config.hparams)
    return {k: np.asarray(v) for k, v in train(key, hparams).metrics.items()}


# ------------------------------------------------------------ equivalence ---


def test_grid_cells_equal_single_runs(grid_result, single_train):
    """Cell (config i, seed s) == jit(train)(seed_keys(0, 4)[s], that config's HParams)."""
    res = grid_result
    assert res.num_configs == 6 and res.num_seeds == NUM_SEEDS
    assert res.metrics["episode_return"].shape == (6, NUM_SEEDS, CONFIG.num_updates)
    expected_order = [(lr, ce) for lr in GRID["learning_rate"] for ce in GRID["clip_eps"]]
    assert [(c.hparams.learning_rate, c.hparams.clip_eps) for c in res.configs] == expected_order
    keys = seed_keys(0, NUM_SEEDS)
    for i, config in enumerate(res.configs):
        for s in range(NUM_SEEDS):
            expected = reference_metrics(single_train, config, keys[s])
            assert_metrics_close({k: v[i, s] for k, v in res.metrics.items()}, expected, f"cell {i},{s}")


def test_learning_rate_is_traced(grid_result):
    """The annealed learning rate each run reports starts at its configuration's value."""
    lr = grid_result.metrics["learning_rate"]
    np.testing.assert_allclose(lr[:, :, 0], np.repeat(grid_result.hparams.learning_rate[:, None], 4, 1))
    assert not np.allclose(grid_result.metrics["policy_loss"][0], grid_result.metrics["policy_loss"][4])


def test_hparam_grid_compiles_once_and_never_again(grid_result):
    assert grid_result.num_compiles == 1
    other = {"learning_rate": [2e-4, 5e-4, 2e-3], "gamma": [0.9, 0.95]}
    with CompileCounter() as compiles:
        again = sweep(CONFIG, other, num_seeds=NUM_SEEDS, seed=3)
    assert again.num_compiles == 0
    assert compiles.count == 0
    assert again.hparams.gamma.tolist() == pytest.approx([0.9, 0.95] * 3)


def test_static_field_grid_groups_compiles(single_train):
    grid = {"num_envs": [2, 4], "ent_coef": [0.0, 0.02]}
    res = sweep(CONFIG, grid, num_seeds=2, seed=1)
    assert res.num_compiles == 2
    assert [c.num_envs for c in res.configs] == [2, 2, 4, 4]
    # num_envs=4 halves the updates of the same budget: NaN past the shorter runs' end.
    assert [c.num_updates for c in res.configs] == [3, 3, 1, 1]
    assert np.isnan(res.metrics["episode_length"][2:, :, 1:]).all()
    train4 = jax.jit(ppo_jax.make_train(CONFIG.replace(num_envs=4)))
    keys = seed_keys(1, 2)
    for i, config in enumerate(res.configs):
        train = single_train if config.num_envs == 2 else train4
        for s in range(2):
            expected = reference_metrics(train, config, keys[s])
            actual = {k: v[i, s, : config.num_updates] for k, v in res.metrics.items()}
            assert_metrics_close(actual, expected, f"cell {i},{s}")
    assert len(res.to_dataframe()) == 2 * (3 + 3 + 1 + 1)


def test_concurrent_sweeps_each_count_their_own_compiles():
    """Two sweeps of new static configs in two threads: each compiled once, and says so."""
    configs = [CONFIG.replace(hidden_sizes=(8, 8)), CONFIG.replace(hidden_sizes=(8, 4))]
    results = [None, None]

    def run(i):
        results[i] = sweep(configs[i], {"learning_rate": [1e-4, 1e-3]}, num_seeds=2, seed=0)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.num_compiles for r in results] == [1, 1]
    again = sweep(configs[0], {"learning_rate": [3e-4, 1e-2]}, num_seeds=2, seed=1)
    assert again.num_compiles == 0


def test_compile_population_caches_hashable_statics_and_propagates_errors():
    calls = []

    def build(scale):
        calls.append(scale)
        return jax.jit(lambda x: x * scale)

    args = (jax.numpy.ones(3),)
    first, compiled = population.compile_population(build, (2.0,), args)
    second, compiled_again = population.compile_population(build, (2.0,), args)
    assert compiled and not compiled_again and first is second and calls == [2.0]
    # A static argument that cannot be hashed compiles every time (no cache, no error).
    unhashable = np.float32(3.0), [1]
    population.compile_population(lambda s, _: jax.jit(lambda x: x * s), unhashable, args)
    _, compiled_unhashable = population.compile_population(
        lambda s, _: jax.jit(lambda x: x * s), unhashable, args)
    assert compiled_unhashable

    # A real TypeError while building is the caller's error, not a cache miss.
    def broken(scale):
        raise TypeError("a real bug")

    with pytest.raises(TypeError, match="a real bug"):
        population.compile_population(broken, (1.0,), args)


_SHARDED_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, {root!r})
    import ppo_jax
    from ppo_jax.population import grids, sharded as sharding
    from ppo_jax.train import seed_keys
    config = ppo_jax.PPOConfig(**{config!r})
    grid = {grid!r}
    assert jax.device_count() == 4, jax.devices()
    res = ppo_jax.sweep(config, grid, num_seeds=3, seed=0)
    settings = grids.expand_grid(grid)
    configs = [config.replace(**s) for s in settings]
    out, compiled_now = sharding.run_population(config, [c.hparams for c in configs],
        np.asarray(jax.random.key_data(seed_keys(0, 3))), tuple(jax.devices()), None, None)
    assert not compiled_now
    value = out["episode_return"]
    np.savez({path!r}, **res.metrics)
    print(json.dumps({{"devices": len(value.sharding.device_set), "shape": list(value.shape),
        "shards": [list(s.data.shape) for s in value.addressable_shards],
        "num_compiles": res.num_compiles}}))
""")


def test_sharded_over_four_devices_equals_single_device(tmp_path, single_train):
    """3 x 2 configs x 3 seeds = 18 members, padded to 20 over 4 CPU devices."""
    config = {k: getattr(CONFIG, k) for k in ("total_timesteps", "num_envs", "num_steps",
                                              "num_minibatches", "update_epochs", "hidden_sizes")}
    script = _SHARDED_SCRIPT.format(root=str(REPO_ROOT), config=config, grid=GRID,
                                    path=str(tmp_path / "metrics.npz"))
    info = run_on_four_cpu_devices(script)
    assert info["devices"] == 4
    assert info["shape"] == [20, CONFIG.num_updates]
    assert info["shards"] == [[5, CONFIG.num_updates]] * 4
    assert info["num_compiles"] == 1  # run_population reused the sweep's compilation
    metrics = dict(np.load(tmp_path / "metrics.npz"))
    assert metrics["episode_return"].shape == (6, 3, CONFIG.num_updates)
    keys = seed_keys(0, 3)
    for i, settings in enumerate(grids.expand_grid(GRID)):
        for s in range(3):
            expected = reference_metrics(single_train, CONFIG.replace(**settings), keys[s])
            assert_metrics_close({k: v[i, s] for k, v in metrics.items()}, expected, f"cell {i},{s}")


# ----------------------------------------------------------------- results ---


def test_to_dataframe_is_tidy(grid_result):
    frame = grid_result.to_dataframe()
    assert len(frame) == 6 * NUM_SEEDS * CONFIG.num_updates
    assert list(frame.columns[:5]) == ["config", "seed", "update", "learning_rate", "clip_eps"]
    assert {"episode_return", "value_loss", "learning_rate_at_update", "kl_coef_at_update"} <= set(frame.columns)
    assert len(frame.columns) == 5 + len(grid_result.metrics)
    assert frame["update"].min() == 1 and frame["update"].max() == CONFIG.num_updates  # from 1
    row = frame[(frame["config"] == 5) & (frame["seed"] == 2) & (frame["update"] == 2)].iloc[0]
    assert row.learning_rate == 1e-3 and row.clip_eps == 0.2
    assert row.value_loss == grid_result.metrics["value_loss"][5, 2, 1]  # update 2: index 1
    assert row.learning_rate_at_update == pytest.approx(1e-3 * 2 / 3)  # annealed, 2nd update of 3


def test_sweep_frame_numbers_updates_like_the_cli_and_train_output(grid_result):
    """Per configuration, the sweep's frame is the tidy frame of TrainOutput.to_dataframe
    and of the CLI's metrics.csv (`results.tidy_metrics`): same seeds, updates and values."""
    frame = grid_result.to_dataframe()
    for i in (0, 5):
        own = frame[frame["config"] == i].reset_index(drop=True)
        tidy = tidy_metrics({k: v[i] for k, v in grid_result.metrics.items()})
        tidy = tidy.rename(columns={"learning_rate": "learning_rate_at_update",
                                    "kl_coef": "kl_coef_at_update"})
        pd.testing.assert_frame_equal(own[tidy.columns], tidy, check_dtype=False)


def test_repr_is_a_few_lines(grid_result):
    text = repr(grid_result)
    assert len(text.splitlines()) < 25 and "6 configurations x 4 seeds" in text
    assert f"best: configuration {grid_result.summary().config[0]} " in text


def test_summary_and_best(grid_result):
    summary = grid_result.summary()
    assert list(summary.columns) == ["config", "learning_rate", "clip_eps", "final_return",
                                     "ci_low", "ci_high", "diverged"]
    assert summary.final_return.is_monotonic_decreasing
    assert (summary.ci_low <= summary.final_return + 1e-9).all()
    assert (summary.final_return <= summary.ci_high + 1e-9).all()
    # Final return: nanmean of episode_return over the last 10% of updates (here: the last one).
    finals = grid_result.metrics["episode_return"][:, :, -1]
    np.testing.assert_allclose(grid_result.final_returns(), finals)
    # Mean over seeds, ignoring seeds that finished no episode in that window.
    np.testing.assert_allclose(summary.set_index("config").final_return.sort_index(),
                               np.nanmean(finals, axis=1))
    best = grid_result.best()
    assert best is grid_result.configs[summary.config[0]]
    assert isinstance(best, ppo_jax.PPOConfig)


def test_bootstrap_ci_matches_a_normal_mean():
    samples = np.random.default_rng(0).normal(5.0, 2.0, size=(400, 1))
    mean, low, high = statistics.bootstrap_ci(samples, num_resamples=4000)
    half = 1.96 * 2.0 / np.sqrt(400)
    assert low[0] < mean[0] < high[0]
    assert (high - low)[0] == pytest.approx(2 * half, rel=0.15)


def test_cli_writes_summary_frame_and_plot(tmp_path, grid_result, capsys):
    """Same static config and population size as grid_result: no compile."""
    from ppo_jax.cli.main import run_command
    sets = ["total_timesteps=96", "num_envs=2", "num_steps=16", "num_minibatches=2",
            "update_epochs=1", "hidden_sizes=8", "activation=tanh"]  # grid_result's: the defaults
    argv = [arg for s in sets for arg in ("--set", s)] + [
        "--grid", "learning_rate=1e-4,3e-4,1e-3", "--grid", "clip_eps=0.1,0.2",
        "--num-seeds", "4", "--out", str(tmp_path)]
    res = run_command(["sweep", *argv])
    assert res.num_compiles == 0
    np.testing.assert_array_equal(res.metrics["episode_return"], grid_result.metrics["episode_return"])
    assert "final_return" in capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "sweep.csv")
    assert len(frame) == 6 * NUM_SEEDS * CONFIG.num_updates
    assert (tmp_path / "learning_curves.png").stat().st_size > 0
    assert len(json.loads((tmp_path / "configs.json").read_text())) == 6


# ----------------------------------------------------------- random search ---


def test_random_search_bounds_log_scale_and_reproducibility():
    space = {"learning_rate": (1e-5, 1e-1, "log"), "clip_eps": (0.1, 0.3), "num_envs": [2, 4]}
    configs = random_search(space, num_configs=2000, seed=7)
    assert len(configs) == 2000 and all(set(c) == set(space) for c in configs)
    lr = np.array([c["learning_rate"] for c in configs])
    clip = np.array([c["clip_eps"] for c in configs])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1
    assert clip.min() >= 0.1 and clip.max() <= 0.3
    assert {c["num_envs"] for c in configs} == {2, 4}
    # log-uniform: each decade of [1e-5, 1e-1] holds about a quarter of the draws.
    decades = np.histogram(np.log10(lr), bins=4, range=(-5, -1))[0] / len(lr)
    np.testing.assert_allclose(decades, 0.25, atol=0.04)
    halves = np.histogram(clip, bins=2, range=(0.1, 0.3))[0] / len(clip)
    np.testing.assert_allclose(halves, 0.5, atol=0.04)
    assert random_search(space, 2000, seed=7) == configs
    assert random_search(space, 2000, seed=8) != configs


@pytest.mark.parametrize(
    "space, match",
    [
        ({"learning_rte": (1e-4, 1e-3)}, "unknown key 'learning_rte'.*valid keys"),
        ({"learning_rate": (1e-3, 1e-4)}, "low < high"),
        ({"learning_rate": (0.0, 1e-3, "log")}, "low > 0"),
        ({"learning_rate": (1e-4, 1e-3, "cubic")}, "must be"),
        ({"num_envs": (2, 8)}, "list of values"),
        ({"clip_eps": []}, "non-empty list"),
    ],
    ids=["unknown_key", "reversed_range", "log_of_zero", "unknown_scale", "static_range", "empty_choice"],
)
def test_random_search_rejects_bad_spaces(space, match):
    with pytest.raises(ValueError, match=match):
        random_search(space, num_configs=4, seed=0)


# -------------------------------------------------------------- bad grids ---


@pytest.mark.parametrize(
    "grid, match",
    [
        ({"learning_rte": [1e-3]}, r"unknown key 'learning_rte'.*valid keys.*learning_rate"),
        ({"learning_rate": []}, r"grid\['learning_rate'\] must be a non-empty list"),
        ({"learning_rate": 1e-3}, "must be a non-empty list"),
        ({"learning_rate": ["1e-3"]}, "learning_rate values must be numbers"),
        ({"clip_eps": [True]}, "clip_eps values must be numbers"),
        ({"num_envs": ["4"]}, "num_envs must be a positive integer"),
        ({"gamma": [0.9, 1.5]}, r"HParams.gamma must be in \[0.0, 1.0\]"),
        ({}, "dict of non-empty lists or a non-empty list of dicts"),
        ([], "dict of non-empty lists or a non-empty list of dicts"),
        ([{"learning_rate": 1e-3}, "clip_eps=0.2"], "configuration 1 must be a dict"),
        ([{"hparams": ppo_jax.HParams()}], "unknown key 'hparams'"),
        ("learning_rate", "dict of non-empty lists or a non-empty list of dicts"),
    ],
    ids=["unknown_key", "empty_list", "scalar_not_list", "string_hparam", "bool_hparam",
         "string_static", "out_of_range", "empty_dict", "empty_list_of_dicts", "non_dict_entry",
         "hparams_key", "not_a_grid"],
)
def test_bad_grids_raise_before_compiling(grid, match):
    with CompileCounter() as compiles, pytest.raises(ValueError, match=match):
        sweep(CONFIG, grid, num_seeds=2)
    assert compiles.count == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_seeds": 0}, "num_seeds"), ({"num_seeds": 2, "seed": 1.5}, "seed"),
     ({"num_seeds": 2, "devices": []}, "devices")],
    ids=["no_seeds", "float_seed", "no_devices"],
)
def test_bad_run_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweep(CONFIG, GRID, **kwargs)
