"""ppo_jax against PureJaxRL's PPO, side by side on the same env and settings.

    python scripts/bench_peer.py --purejaxrl PATH [--populations 1 8] [--rounds 5]
    python scripts/bench_peer.py --purejaxrl PATH --network gru --populations 1
    python scripts/bench_peer.py --purejaxrl PATH --env SpaceInvaders-MinAtar --populations 2 \
        --total-timesteps 2998272 --rounds 2 --separate-processes

`--env` with a MinAtar game uses the settings of PureJaxRL's MinAtar example
(examples/brax_minatar.ipynb, which trains with its ppo.py): 64 envs x 128
steps, 4 epochs x 8 minibatches, lr 5e-3 annealed, relu 64x64 actor and
critic on flattened observations. Other gymnax envs get the CartPole settings.

`--network gru` compares recurrent PPO with PureJaxRL's `ppo_rnn.py` on its own
CartPole settings (the same, with a 128-unit relu embedding, a 128-unit GRU
and 128-unit heads: ppo_jax's network="gru", hidden_sizes=(128,),
activation="relu", rnn_size=128). Today's flax needs two small edits to that
file, made in your copy and not here: `nn.GRUCell(features=ins.shape[1])`
and an initial carry of `jnp.zeros((batch_size, hidden_size))`.

PATH is the `purejaxrl/` folder of a PureJaxRL checkout (the one holding its
`ppo.py` and `wrappers.py`); nothing of it is copied here. Both libraries
train the same PPO (PureJaxRL's CartPole settings are ppo_jax's defaults: 4
envs x 128 steps, 4 epochs x 4 minibatches, lr 2.5e-4 annealed, tanh 64x64
actor and critic, 5e5 steps). Each is compiled once (compile time recorded),
run once to warm up, then the timed runs alternate (A B B A ...) so that load
changes on a shared machine hit both alike. Reported: wall and process-CPU
seconds per run, medians, and ours / theirs.

Two shims let today's packages run PureJaxRL's file unchanged: its
`wrappers.py` imports brax and navix at the top (for wrappers a CartPole run
never uses), so empty stand-in modules are registered when those packages are
missing; and it expects gymnax's pre-1.0 `step` (obs, state, reward, done,
info), so `gymnax.make` hands it envs whose `step` returns done = terminated |
truncated, and an info without the keys 1.0 added. (It thereby treats
truncation as termination, as it always has.)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import ppo_jax
from ppo_jax.analysis.benchmarking import (
    append_jsonl,
    device_info,
    time_alternating,
    write_manifest,
)
from ppo_jax.analysis.statistics import final_window

GYMNAX_1_INFO = ("terminated", "truncated", "final_observation")  # info keys gymnax 1.0 added


class FiveValueStep:
    """A gymnax >= 1.0 env whose `step` returns the pre-1.0 five values."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        # Pre-1.0 gymnax's info was step_env's own (a discount). PureJaxRL keeps the
        # whole info of every step as its metrics, so 1.0's additions would make it
        # store every final observation (MinAtar at 3e6 steps x 2 seeds: a process
        # of 24 GB, killed for want of memory here). They are dropped.
        info = {k: v for k, v in info.items() if k not in GYMNAX_1_INFO}
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def _stub_missing(*names: str) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    training = sys.modules.get("brax.envs.wrappers.training")
    for attr in ("EpisodeWrapper", "AutoResetWrapper"):
        if training is not None and not hasattr(training, attr):
            setattr(training, attr, object)


def import_purejaxrl(path: Path, module: str = "ppo"):
    """PureJaxRL's `module` (ppo or ppo_rnn) from `path` (brax and navix stubbed where missing)."""
    if not (path / f"{module}.py").exists():
        raise SystemExit(f"--purejaxrl {path}: no {module}.py there; "
                         "pass the purejaxrl/ folder of a checkout")
    _stub_missing("brax.envs.wrappers.training", "navix")
    # `module` imports its sibling wrappers.py by the top-level name "wrappers":
    # loaded first, from the checkout
    for name in ("wrappers", module) if (path / "wrappers.py").exists() else (module,):
        spec = importlib.util.spec_from_file_location(name, path / f"{name}.py")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        spec.loader.exec_module(loaded)
    return loaded


@contextlib.contextmanager
def five_value_gymnax():
    """While active, `gymnax.make` returns `FiveValueStep` envs (PureJaxRL builds its env then)."""
    import gymnax

    make = gymnax.make

    def make_five_value(*args, **kwargs):
        env, params = make(*args, **kwargs)
        return FiveValueStep(env), params

    gymnax.make = make_five_value
    try:
        yield
    finally:
        gymnax.make = make


def purejaxrl_config(config: ppo_jax.PPOConfig) -> dict:
    hp = config.hparams
    return {
        "LR": hp.learning_rate, "NUM_ENVS": config.num_envs, "NUM_STEPS": config.num_steps,
        "TOTAL_TIMESTEPS": config.total_timesteps, "UPDATE_EPOCHS": config.update_epochs,
        "NUM_MINIBATCHES": config.num_minibatches, "GAMMA": hp.gamma, "GAE_LAMBDA": hp.gae_lambda,
        "CLIP_EPS": hp.clip_eps, "ENT_COEF": hp.ent_coef, "VF_COEF": hp.vf_coef,
        "MAX_GRAD_NORM": hp.max_grad_norm, "ACTIVATION": config.activation,
        "ENV_NAME": config.env, "ANNEAL_LR": config.anneal_lr, "DEBUG": False,
    }


def peer_config(env: str, total_timesteps: int | None) -> ppo_jax.PPOConfig:
    """The PPOConfig of a side-by-side run on `env`: PureJaxRL's settings for it."""
    if env.endswith("-MinAtar"):  # PureJaxRL's examples/brax_minatar.ipynb
        config = ppo_jax.PPOConfig(env=env, total_timesteps=2_998_272, num_envs=64, num_steps=128,
                                   num_minibatches=8, update_epochs=4, hidden_sizes=(64, 64),
                                   activation="relu", hparams=ppo_jax.HParams(learning_rate=5e-3))
    else:
        config = ppo_jax.PPOConfig(env=env)
    return config if total_timesteps is None else config.replace(total_timesteps=total_timesteps)


def programs(ppo_module, config: ppo_jax.PPOConfig, population: int) -> dict:
    """{"ppo_jax": (fn, args), "purejaxrl": (fn, args)}: jit for one seed, jit of vmap for more."""
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    ours = ppo_jax.make_train(config)
    with five_value_gymnax():
        theirs = ppo_module.make_train(purejaxrl_config(config))
    keys = jax.random.split(jax.random.key(0), population)
    legacy_keys = jax.random.split(jax.random.PRNGKey(0), population)
    if population == 1:
        return {"ppo_jax": (jax.jit(ours), (keys[0], hparams)),
                "purejaxrl": (jax.jit(theirs), (legacy_keys[0],))}
    return {"ppo_jax": (jax.jit(jax.vmap(ours, in_axes=(0, None))), (keys, hparams)),
            "purejaxrl": (jax.jit(jax.vmap(theirs)), (legacy_keys,))}


def final_return(name: str, out) -> float:
    """Mean return of the episodes that ended in the last 10% of updates (all agents
    pooled, `ppo_jax.analysis.statistics.final_window`): a check that both programs trained.

    Pooled over episodes rather than `statistics.final_return`'s mean of per-update
    means, because PureJaxRL logs episodes per step; the window is the same.
    """
    if name == "ppo_jax":
        last = final_window(np.shape(out.metrics["episode_return"])[-1])
        returns = np.asarray(out.metrics["episode_return"])[..., -last:]
        counts = np.asarray(out.metrics["num_episodes"])[..., -last:]
        return float(np.nansum(returns * counts) / counts.sum())
    # PureJaxRL: per-step info, [..., updates, steps, envs] ("metric" in ppo_rnn.py)
    metrics = out["metrics"] if "metrics" in out else out["metric"]
    last = final_window(np.shape(metrics["returned_episode"])[-3])
    ended = np.asarray(metrics["returned_episode"])[..., -last:, :, :]
    return float(np.asarray(metrics["returned_episode_returns"])[..., -last:, :, :][ended].mean())


def measure(ppo_module, config: ppo_jax.PPOConfig, population: int, rounds: int) -> dict:
    compiled, compile_s, returns = {}, {}, {}
    for name, (fn, args) in programs(ppo_module, config, population).items():
        t0 = time.perf_counter()
        compiled[name] = (fn.lower(*args).compile(), args)
        compile_s[name] = time.perf_counter() - t0
        returns[name] = final_return(name, jax.block_until_ready(compiled[name][0](*args)))  # warm-up
    wall, cpu = time_alternating(compiled, rounds)
    median = {name: statistics.median(v) for name, v in wall.items()}
    return {
        "record": "result", "env": config.env, "population": population, "rounds": rounds,
        "compile_s": compile_s, "final_return": returns, "run_s": wall, "run_cpu_s": cpu,
        "median_run_s": median,
        "ours_over_theirs": median["ppo_jax"] / median["purejaxrl"],
    }


def _without_option(argv: list[str], name: str, many: bool = False) -> list[str]:
    """`argv` less `name` and its value(s) (`many`: every value up to the next option)."""
    if name not in argv:
        return argv
    i = argv.index(name)
    j = i + 2
    while many and j < len(argv) and not argv[j].startswith("--"):
        j += 1
    return argv[:i] + argv[j:]


def run_one(ppo_module, config: ppo_jax.PPOConfig, population: int, library: str) -> dict:
    """One library's program compiled and run once in this process (no warm-up run):
    {"compile_s", "run_s", "run_cpu_s", "final_return"}."""
    fn, args = programs(ppo_module, config, population)[library]
    t0 = time.perf_counter()
    executable = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(executable(*args))
    return {"compile_s": compile_s, "run_s": time.perf_counter() - t0, "run_cpu_s": time.process_time() - c0,
            "final_return": final_return(library, out)}


def measure_in_processes(argv: list[str], config: ppo_jax.PPOConfig, population: int, rounds: int) -> dict:
    """`measure`'s record, each run in a fresh process (`--worker`), alternating
    A B, B A, ...: for long runs, where a warm-up run would double the time, and
    where two big programs in one process have hung XLA's CPU runtime here."""
    runs = {name: [] for name in ("ppo_jax", "purejaxrl")}
    for r in range(rounds):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            cmd = [sys.executable, __file__, *argv, "--populations", str(population), "--worker", name]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    median = {name: statistics.median(run["run_s"] for run in v) for name, v in runs.items()}
    return {
        "record": "result", "env": config.env, "population": population, "rounds": rounds,
        "separate_processes": True,
        "compile_s": {name: statistics.median(run["compile_s"] for run in v) for name, v in runs.items()},
        "final_return": {name: [run["final_return"] for run in v] for name, v in runs.items()},
        "run_s": {name: [run["run_s"] for run in v] for name, v in runs.items()},
        "run_cpu_s": {name: [run["run_cpu_s"] for run in v] for name, v in runs.items()},
        "median_run_s": median, "ours_over_theirs": median["ppo_jax"] / median["purejaxrl"],
    }


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--purejaxrl", type=Path, required=True, help="PureJaxRL checkout's purejaxrl/ folder")
    p.add_argument("--populations", type=int, nargs="+", default=[1, 8])
    p.add_argument("--rounds", type=int, default=5, help="timed runs of each library, alternating")
    p.add_argument("--env", default="CartPole-v1",
                   help="a gymnax env id (MinAtar: PureJaxRL's MinAtar settings)")
    p.add_argument("--total-timesteps", type=int, default=None,
                   help="default: 499,712 (CartPole settings) or 2,998,272 "
                        "(MinAtar: 366 updates of 64 x 128)")
    p.add_argument("--network", choices=["mlp", "gru"], default="mlp",
                   help="gru: recurrent PPO against PureJaxRL's ppo_rnn.py")
    p.add_argument("--separate-processes", action="store_true",
                   help="each run in a fresh process, no warm-up run (long runs)")
    p.add_argument("--worker", choices=["ppo_jax", "purejaxrl"], help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    recurrent = args.network == "gru"
    ppo_module = import_purejaxrl(args.purejaxrl.resolve(), "ppo_rnn" if recurrent else "ppo")
    config = peer_config(args.env, args.total_timesteps)
    if recurrent:  # ppo_rnn.py's network: relu embedding 128 -> GRU 128 -> heads 128
        config = config.replace(network="gru", hidden_sizes=(128,), activation="relu", rnn_size=128)
    if args.worker is not None:  # one run, for --separate-processes: its record on the last line
        print(json.dumps(run_one(ppo_module, config, args.populations[0], args.worker)), flush=True)
        return []
    base_argv = [a for a in argv if a not in ("--separate-processes",)]
    base_argv = _without_option(_without_option(base_argv, "--populations", many=True), "--out")
    records = []
    for population in args.populations:
        if args.separate_processes:
            record = measure_in_processes(base_argv, config, population, args.rounds)
        else:
            record = measure(ppo_module, config, population, args.rounds)
        records.append(record)
        med = record["median_run_s"]
        record["network"] = args.network
        print(f"{args.env} ({args.network}), {population} agent(s): ppo_jax {med['ppo_jax']:.2f} s, "
              f"PureJaxRL "
              f"{med['purejaxrl']:.2f} s (medians of {args.rounds}); ours / theirs = "
              f"{record['ours_over_theirs']:.3f}; final returns {record['final_return']}", flush=True)
        if args.out is not None:
            append_jsonl(args.out, record)
    if args.out is not None:
        write_manifest(
            args.out.parent,
            experiment="ppo_jax's run time over PureJaxRL's PPO on the same env and settings, alternating "
                       "timed runs.",
            files={args.out.name: f"one row per population ({args.env}, {args.network}), appended: compile "
                                  "and run seconds of each library, medians, ours / theirs, final returns"},
            device=device_info())
    return records


if __name__ == "__main__":
    main()
