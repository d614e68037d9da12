"""Env steps per second per suite, and training steps per second, on this machine.

    python scripts/bench_suites.py                      # every suite's default envs
    python scripts/bench_suites.py --envs brax/hopper craftax/Craftax-Classic-Symbolic-v1 \
        --num-envs 16 64 --train-seeds 4

Env stepping: a jitted `lax.scan` of `--steps` steps of the vmapped adapter
(what the rollout runs), with uniformly random actions, for each env id and
each `--num-envs`. Reported: compile seconds, the median run seconds over
`--repeats`, and env steps per second (num_envs x steps / run seconds).

Craftax ids get a second row, "world every step": the same adapter with a new
world generated for every env at every step, as Craftax's own auto-reset
wrapper does (and as this library did before it generated worlds only at
steps where some env ended). Same process, same envs, same keys, so the ratio
of the two rows is the gain.

`--train-seeds N` (N > 0) also times training: `--train-updates` updates of
the env's preset (its num_envs x num_steps batch; `train_seeds` with N
vmapped seeds), compiled once, then run `--repeats` times; env steps per
second counts all seeds. For Craftax the "world every step" adapter is timed
alike.

Results: JSON lines in `--out` (default scripts/results/bench-suites/results.jsonl),
one line per measurement, with the machine and the package versions; and the
folder's manifest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import ppo_jax
from ppo_jax.analysis.benchmarking import package_versions, write_manifest
from ppo_jax.envs.adapters import ProtocolAdapter, make_env

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_ENVS = ("CartPole-v1", "Breakout-MinAtar", "brax/inverted_pendulum", "brax/hopper", "brax/ant",
                "navix/Navix-DoorKey-5x5-v0", "craftax/Craftax-Classic-Symbolic-v1")
CRAFTAX = "craftax/"


def craftax_world_every_step(name: str):
    """The Craftax adapter with a new world generated for every env at every step and
    selected where an episode ended (the baseline: what Craftax's auto-reset wrapper does)."""
    from ppo_jax.envs.suites.craftax_env import CraftaxEnv

    env = CraftaxEnv(name)

    def dense_reset_where(ended, key, obs, state):
        fresh_obs, fresh_state = env.reset(key)
        pick = lambda fresh, current: jnp.where(ended, fresh, current)
        return pick(fresh_obs, obs), jax.tree.map(pick, fresh_state, state)

    env._reset_where = dense_reset_where
    return env


def random_action(spec, key):
    if spec.discrete:
        return jax.random.randint(key, (), 0, spec.num_actions)
    return jax.random.uniform(key, (spec.action_size,), minval=-1.0, maxval=1.0)


def make_stepper(adapter, num_envs: int, steps: int):
    """jitted (key) -> (ended count, obs checksum): reset num_envs envs, then `steps` random steps."""

    def one_step(state, key):
        action_key, env_key = jax.random.split(key)
        actions = jax.vmap(lambda k: random_action(adapter.spec, k))(jax.random.split(action_key, num_envs))
        out = jax.vmap(adapter.step)(jax.random.split(env_key, num_envs), state, actions)
        # the observations feed the result, so XLA cannot skip computing them (the policy needs them)
        return out.state, ((out.terminated | out.truncated).sum(), out.obs.sum() + out.final_obs.sum())

    @jax.jit
    def run(key):
        reset_key, steps_key = jax.random.split(key)
        _, state = jax.vmap(adapter.reset)(jax.random.split(reset_key, num_envs))
        _, (ended, obs_sum) = jax.lax.scan(one_step, state, jax.random.split(steps_key, steps))
        return ended.sum(), obs_sum.sum()

    return run


def timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


def bench_env_steps(label, adapter, num_envs, steps, repeats):
    run = make_stepper(adapter, num_envs, steps)
    compile_s, _ = timed(run, jax.random.PRNGKey(0))  # includes one run
    runs = [timed(run, jax.random.PRNGKey(1 + r)) for r in range(repeats)]
    run_s = statistics.median(t for t, _ in runs)
    ended = int(runs[0][1][0])
    return {"kind": "env_steps", "env": label, "num_envs": num_envs, "steps": steps,
            "compile_s": round(compile_s, 2), "run_s": [round(t, 3) for t, _ in runs],
            "steps_per_s": round(num_envs * steps / run_s), "episodes_ended": ended}


def bench_training(label, config, env, seeds, repeats):
    train = jax.jit(jax.vmap(ppo_jax.make_train(config, env=env), in_axes=(0, None)))
    keys = lambda r: jax.random.split(jax.random.PRNGKey(r), seeds)
    compile_s, _ = timed(train, keys(0), config.hparams)
    runs = [timed(train, keys(1 + r), config.hparams)[0] for r in range(repeats)]
    run_s = statistics.median(runs)
    return {"kind": "training", "env": label, "seeds": seeds, "num_envs": config.num_envs,
            "num_steps": config.num_steps, "total_timesteps": config.total_timesteps,
            "compile_s": round(compile_s, 2), "run_s": [round(t, 2) for t in runs],
            "steps_per_s": round(seeds * config.total_timesteps / run_s)}


SUITE_PACKAGES = ("gymnax", "brax", "mujoco", "navix", "craftax")


def versions():
    out = {"jax": jax.__version__,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "device": str(jax.devices()[0].device_kind)}
    installed = package_versions(SUITE_PACKAGES)
    return {**out, **{pkg: installed[pkg] for pkg in SUITE_PACKAGES if installed[pkg] is not None}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=list(DEFAULT_ENVS), help="env ids (any suite)")
    p.add_argument("--num-envs", nargs="+", type=int, default=[16, 64])
    p.add_argument("--steps", type=int, default=256, help="steps per env per timed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-seeds", type=int, default=0, help="also time training with this many seeds")
    p.add_argument("--train-updates", type=int, default=8)
    p.add_argument("--out", default=str(REPO_ROOT / "scripts/results/bench-suites/results.jsonl"))
    args = p.parse_args(argv)
    for name in ("steps", "repeats", "train_updates"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if min(args.num_envs) < 1 or args.train_seeds < 0:
        p.error("--num-envs must be at least 1 and --train-seeds at least 0")
    for env_id in args.envs:  # a bad id or a missing extra fails here, before compiling
        try:
            ppo_jax.PPOConfig(env=env_id)
        except ValueError as err:
            p.error(f"--envs: {err}")
    return args


def main(argv=None):
    args = parse_args(argv)
    meta = versions()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def record(row):
        row = {**row, **meta, "date": time.strftime("%Y-%m-%d %H:%M")}
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")

    for env_id in args.envs:
        variants = [(env_id, make_env(env_id), None)]
        if env_id.startswith(CRAFTAX):
            baseline = craftax_world_every_step(env_id[len(CRAFTAX):])
            variants.append((env_id + " (world every step)", ProtocolAdapter(baseline, env_id), baseline))
        for label, adapter, _ in variants:
            for num_envs in args.num_envs:
                record(bench_env_steps(label, adapter, num_envs, args.steps, args.repeats))
        if args.train_seeds:
            for label, _, env in variants:
                batch = ppo_jax.preset(env_id)
                steps = args.train_updates * batch.num_envs * batch.num_steps
                config = ppo_jax.preset(env_id, total_timesteps=steps)
                record(bench_training(label, config, env, args.train_seeds, args.repeats))
    write_manifest(
        out.parent,
        experiment="Env steps per second of each suite's adapter with random actions"
                   + (", and training throughput of each preset with vmapped seeds"
                      if args.train_seeds else "") + ".",
        files={out.name: "one row per measurement (env_steps or training), appended, with the package "
                         "versions and the date"},
        device=meta["device"], versions={k: v for k, v in meta.items() if k not in ("machine", "device")})


if __name__ == "__main__":
    main()
