"""Smoke tests of scripts/benchmark.py on tiny budgets (one update per agent)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class FakeClock:
    """The script's `time` module, replaced: wall and CPU clocks that stand still but while
    the program compiles (by COMPILE_S) and while it runs (by RUN_S wall, RUN_CPU_S CPU)."""

    COMPILE_S, RUN_S, RUN_CPU_S = 3.0, 2.0, 4.0

    def __init__(self):
        self.wall, self.cpu = 1000.0, 50.0

    def perf_counter(self) -> float:
        return self.wall

    def process_time(self) -> float:
        return self.cpu

    def timed(self, fn):
        """`fn` (a jitted function) whose lower(...).compile() and compiled call advance the clocks."""
        clock = self

        class Compiled:
            def __init__(self, compiled):
                self.compiled = compiled

            def __call__(self, *args):
                out = jax.block_until_ready(self.compiled(*args))
                clock.wall += clock.RUN_S
                clock.cpu += clock.RUN_CPU_S
                return out

        class Lowered:
            def __init__(self, lowered):
                self.lowered = lowered

            def compile(self):
                compiled = self.lowered.compile()
                clock.wall += clock.COMPILE_S
                return Compiled(compiled)

        class Program:
            def lower(self, *args):
                return Lowered(fn.lower(*args))

        return Program()


def test_in_process_run_writes_results_summary_and_plot(bench, tmp_path, monkeypatch):
    """With a fake clock, the reported times are the clock's and the throughputs are the
    budget (512 env steps, from --budget) over them."""
    clock = FakeClock()
    real_function = bench.ppo_jax_function
    monkeypatch.setattr(bench, "time", clock)

    def timed_function(config, population: int, seed: int):
        fn, args = real_function(config, population, seed)
        return clock.timed(fn), args

    monkeypatch.setattr(bench, "ppo_jax_function", timed_function)
    out = tmp_path / "bench.jsonl"
    # One compile only (one seed, the cheapest program): compiling is most of the cost.
    bench.main(["--budget", "512", "--populations", "1", "--repeats", "1", "--skip-sb3",
                "--in-process", "--out", str(out)])
    records = read_records(out)
    assert [r["record"] for r in records] == ["machine", "result", "summary", "end"]
    machine, one, summary, _ = records
    assert machine["cpu_count"] >= 1 and machine["versions"]["jax"]
    assert one["library"] == "ppo_jax" and one["env"] == "CartPole-v1" and one["population"] == 1
    assert one["steps_per_agent"] == 512
    assert one["peak_rss_mib"] > 0
    assert (one["compile_s"], one["run_s"], one["run_cpu_s"]) == (3.0, 2.0, 4.0)  # the fake clock's
    assert one["steps_per_s"] == one["steps_per_s_per_agent"] == pytest.approx(512 / 2.0)
    assert one["steps_per_cpu_s"] == pytest.approx(512 / 4.0)
    assert one["device"]["platform"] == jax.devices()[0].platform
    assert len(one["ppo_jax_sources"]) == 12
    assert summary["sb3_skipped"] == "--skip-sb3" and summary["vmap_speedup_over_1_seed"] == {"1": 1.0}
    assert out.with_suffix(".png").stat().st_size > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())  # the folder's record
    assert set(manifest["files"]) == {"bench.jsonl", "bench.png"} and manifest["versions"]["jax"]
    assert manifest["device"].endswith(f"({one['device']['platform']})")
    assert "CartPole-v1" in manifest["experiment"]


def test_one_seed_is_plain_jit_and_a_population_is_train_seeds_program(bench):
    from ppo_jax import PPOConfig

    config = PPOConfig(total_timesteps=512)
    _, (key, _) = bench.ppo_jax_function(config, 1, seed=3)
    assert key.shape == () and jax.numpy.array_equal(jax.random.key_data(key),
                                                     jax.random.key_data(jax.random.key(3)))
    program, (key_data, hparams) = bench.ppo_jax_function(config, 4, seed=3)  # train_seeds' program
    np.testing.assert_array_equal(key_data, jax.random.key_data(jax.random.split(jax.random.key(3), 4)))
    import ppo_jax
    states, metrics = program(key_data, hparams)
    np.testing.assert_array_equal(metrics["episode_return"],
                                  ppo_jax.train_seeds(config, 4, seed=3).metrics["episode_return"])


def test_throughputs_count_every_agent_over_the_median_repeat(bench):
    """4 agents x 600 steps each, runs of 5, 2 and 3 s (median 3 s) and 9, 4, 6 CPU s (median 6)."""
    spec = bench.Spec("ppo_jax", "CartPole-v1", 4, 3, 0, {"total_timesteps": 600})
    reps = [{"steps_per_agent": 600, "run_s": run_s, "run_cpu_s": cpu_s, "compile_s": 1.0,
             "compile_cpu_s": 1.0, "lower_s": 0.1, "final_return": 10.0, "run_peak_rss_mib": None,
             "compile_peak_rss_mib": None} for run_s, cpu_s in ((5.0, 9.0), (2.0, 4.0), (3.0, 6.0))]
    result = bench.summarize_repeats(spec, {"repeats": reps})
    assert result["run_s"] == 3.0 and result["run_s_all"] == [5.0, 2.0, 3.0]
    assert result["steps_per_s"] == pytest.approx(800.0)  # 2400 steps / 3 s
    assert result["steps_per_s_per_agent"] == pytest.approx(200.0)
    assert result["steps_per_cpu_s"] == pytest.approx(400.0)  # 2400 steps / 6 CPU s


def test_summary_and_table_ratios(bench):
    def result(library, population, rate, extrapolated=False):
        return {"record": "result", "library": library, "env": "CartPole-v1", "population": population,
                "steps_per_s": rate, "steps_per_s_per_agent": rate / population, "steps_per_agent": 1000,
                "compile_s": 1.0, "run_s": 1.0, "run_cpu_s": 2.0, "peak_rss_mib": 100.0,
                "final_return": 50.0, "extrapolated": extrapolated, "full_budget": 4000,
                "run_s_full_budget": 4.0}

    results = [result("ppo_jax", 1, 2000.0), result("ppo_jax", 8, 10000.0),
               result("sb3", 1, 1000.0, extrapolated=True)]
    summary = bench.env_summary("CartPole-v1", results, None)
    assert summary["ours_over_sb3"] == {"1": 2.0, "8": 10.0}
    assert summary["vmap_speedup_over_1_seed"] == {"1": 1.0, "8": 5.0}
    assert summary["ours_over_sb3_per_cpu_s"] == {"1": 1.0, "8": 8.0}  # all ran 2 CPU s
    table = bench.markdown_table(results, [summary])
    assert "| 5.00x | 10.0x | 8.0x |" in table
    assert "| 4.0* | 8.0* |" in table  # SB3 time scaled to the full budget, marked


def test_worker_failure_becomes_an_error_record(bench):
    spec = bench.Spec("ppo_jax", "CartPole-v1", 1, 1, 0, {"env": "NoSuchEnv-v0", "total_timesteps": 512})
    record = bench.run_worker(spec, in_process=False)
    assert record["record"] == "error" and record["returncode"] != 0
    assert "NoSuchEnv-v0" in record["stderr_tail"]


def test_sb3_settings_match_the_config(bench):
    """Torch-free: the keyword arguments SB3 gets. (`check_sb3_model`, the
    benchmark's own self-check, verifies the built model before every SB3 run.)"""
    config = bench.make_config("CartPole-v1", 499_712)
    kwargs = bench.sb3_kwargs(config, seed=0)
    assert (kwargs["n_steps"], kwargs["batch_size"], kwargs["n_epochs"]) == (128, 128, 4)
    assert kwargs["learning_rate"](1.0) == pytest.approx(2.5e-4)
    assert kwargs["learning_rate"](0.5) == pytest.approx(1.25e-4)
    assert (kwargs["gamma"], kwargs["gae_lambda"]) == pytest.approx((0.99, 0.95))
    assert kwargs["clip_range"] == kwargs["clip_range_vf"] == pytest.approx(0.2)
    assert (kwargs["ent_coef"], kwargs["vf_coef"], kwargs["max_grad_norm"]) == pytest.approx(
        (0.01, 0.25, 0.5))
    assert kwargs["policy_kwargs"]["net_arch"] == {"pi": [64, 64], "vf": [64, 64]}
    assert kwargs["policy_kwargs"]["activation_fn"] == "tanh"
    with pytest.raises(ValueError, match="plain clip objective"):
        bench.sb3_kwargs({**config, "objective": "kl_penalty"}, seed=0)


def test_a_hung_worker_is_killed_and_recorded(bench):
    spec = bench.Spec("ppo_jax", "CartPole-v1", 1, 1, 0, bench.make_config("CartPole-v1", 512))
    record = bench.run_worker(spec, in_process=False, timeout=0.5)
    assert record["record"] == "error" and record["timed_out_after_s"] == 0.5
    assert "| timed out (0.5 s) |" in bench.markdown_table([record], [])


def test_peer_benchmark_gives_purejaxrl_our_settings_and_its_step_api(load_script):
    """bench_peer.py's shims, without a PureJaxRL checkout: the config it hands
    PureJaxRL is ours, and the env it gets returns gymnax's pre-1.0 five values."""
    import gymnax
    import jax.numpy as jnp

    from ppo_jax import PPOConfig

    peer = load_script("bench_peer")
    config = PPOConfig()
    theirs = peer.purejaxrl_config(config)
    assert (theirs["NUM_ENVS"], theirs["NUM_STEPS"], theirs["UPDATE_EPOCHS"], theirs["NUM_MINIBATCHES"]) == (
        config.num_envs, config.num_steps, config.update_epochs, config.num_minibatches)
    assert theirs["LR"] == config.hparams.learning_rate and theirs["ENV_NAME"] == "CartPole-v1"
    assert theirs["TOTAL_TIMESTEPS"] == config.total_timesteps == 499_712  # 976 updates, as ours
    assert theirs["ANNEAL_LR"] and not theirs["DEBUG"]

    env, params = gymnax.make("CartPole-v1")
    wrapped = peer.FiveValueStep(env)
    obs, state = wrapped.reset(jax.random.key(0), params)
    state = state.replace(time=jnp.asarray(params.max_steps_in_episode - 1))  # the next step truncates
    out = wrapped.step(jax.random.key(1), state, 0, params)
    assert len(out) == 5 and bool(out[3])  # done = terminated | truncated
    assert not set(out[4]) & {"terminated", "truncated", "final_observation"}  # pre-1.0's info
    assert wrapped.num_actions == env.num_actions  # everything else is the env's

    # MinAtar: PureJaxRL's MinAtar example's settings, 366 whole updates near 3e6 steps.
    minatar = peer.peer_config("SpaceInvaders-MinAtar", None)
    theirs = peer.purejaxrl_config(minatar)
    assert (theirs["NUM_ENVS"], theirs["NUM_STEPS"], theirs["UPDATE_EPOCHS"], theirs["NUM_MINIBATCHES"],
            theirs["LR"], theirs["ACTIVATION"]) == (64, 128, 4, 8, 5e-3, "relu")
    assert minatar.hidden_sizes == (64, 64) and minatar.num_updates == 366
    assert minatar.total_timesteps == theirs["TOTAL_TIMESTEPS"] == 366 * 64 * 128
    assert peer._without_option(["--env", "X", "--populations", "1", "8", "--rounds", "2"],
                                "--populations", many=True) == ["--env", "X", "--rounds", "2"]


def test_suites_benchmark_records_env_steps_and_training(load_script, tmp_path, capsys):
    """bench_suites.py on CartPole at a tiny size: one env-steps row per num_envs and
    one training row, with the ended-episode count a random CartPole policy must give."""
    bench = load_script("bench_suites")
    out = tmp_path / "suites.jsonl"
    bench.main(["--envs", "CartPole-v1", "--num-envs", "2", "4", "--steps", "64", "--repeats", "1",
                "--train-seeds", "2", "--train-updates", "1", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["kind"], r.get("num_envs")) for r in rows] == [
        ("env_steps", 2), ("env_steps", 4), ("training", 8)]
    steps = rows[:2]
    device = jax.devices()[0].device_kind  # what the script records: "cpu" on CPUs, a GPU's name
    assert all(r["steps_per_s"] > 0 and r["device"] == device for r in rows)
    # a random CartPole episode lasts about 22 steps: 64 steps end several per env
    assert all(r["num_envs"] * 64 / 60 <= r["episodes_ended"] <= r["num_envs"] * 64 / 8 for r in steps), steps
    assert rows[2]["total_timesteps"] == 8 * 32 and rows[2]["seeds"] == 2
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(manifest["files"]) == ["suites.jsonl"] and manifest["device"] == device


@pytest.mark.parametrize("argv, match", [
    (["--envs", "brax/nope"], "--envs: .*valid"),
    (["--steps", "0"], "--steps must be at least 1"),
])
def test_suites_benchmark_refuses_bad_arguments(load_script, capsys, argv, match):
    with pytest.raises(SystemExit):
        load_script("bench_suites").parse_args(argv)
    assert re.search(match, capsys.readouterr().err)
