"""Data parallelism for one agent (`PPOConfig.data_parallel`): evidence and speed.

    python scripts/bench_data_parallel.py check        # CPU: 4 forced devices = 1 device; CartPole learns
    python scripts/bench_data_parallel.py suites       # CPU: every suite on a 2 x 2 mesh, eval, progress, logger
    python scripts/bench_data_parallel.py scaling --env craftax/Craftax-Classic-Symbolic-v1 --devices 1 2 4 8
    python scripts/bench_data_parallel.py craftax      # Craftax-Classic-Symbolic, the paper's PPO, 100M steps

`check` (run on a CPU: it starts itself again with 4 forced host devices when it
sees fewer) writes `equality.json` (one agent of 8 envs in 4 groups, MLP and GRU:
the largest difference between its run on 1 device and on 4 devices, in the final
parameters and in every update's losses) and `learning.json` (the CartPole-v1
preset with data_parallel=4, 4 seeds, each seed's 4 groups on the 4 devices:
final returns, the mean over the last 10% of updates, and the best update).

`scaling` trains one agent (`--num-envs` envs, data_parallel = the largest device
count) on 1, 2, 4, ... devices in one process and reports env steps per second
per device count, timed in alternating rounds after a compile and a warm-up run
(`scaling.jsonl`). On one GPU or a CPU it measures nothing about scaling; it is
the prepared command for a machine with 2 to 8 GPUs.

`craftax` trains Craftax-Classic-Symbolic-v1 with the Craftax paper's PPO
settings (Matthews et al. 2024, the craftax_baselines ppo.py defaults: 1024 envs
x 64 steps, 4 epochs of 8 minibatches, lr 2e-4 annealed, gamma 0.99, GAE lambda
0.8, clip 0.2, entropy 0.01, value 0.5, max grad norm 1.0, 3 x 512 tanh MLP) for
`--total-timesteps` (default 100M) on one device and records the wall time
(compile separately) and the return curve (`craftax.json`).

Results go to scripts/results/data-parallel/ (or `--out`) with a manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "data-parallel"
FORCED = "--xla_force_host_platform_device_count=4"


def _max_diff(a, b) -> float:
    import jax
    import numpy as np
    return max(float(np.nanmax(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def check(out: Path, seeds: int) -> dict:
    """Equality (4 devices vs 1) and the CartPole learning run; written to `out`."""
    import jax
    import numpy as np

    import ppo_jax

    equality = {"devices": [str(d) for d in jax.devices()]}
    for network in ("mlp", "gru"):
        config = ppo_jax.PPOConfig(env="CartPole-v1", num_envs=8, num_steps=32, num_minibatches=2,
                                   total_timesteps=8 * 32 * 20, network=network, rnn_size=32,
                                   normalize_observations=True, normalize_rewards=True, data_parallel=4)
        key = jax.random.key(0)
        one = jax.jit(ppo_jax.make_train(config))(key)
        four = jax.jit(ppo_jax.make_train(config, devices=jax.devices()[:4]))(key)
        equality[network] = {
            "config": config.to_dict(), "updates": config.num_updates,
            "max_abs_diff_params": _max_diff(one.state.params, four.state.params),
            "max_abs_diff_metrics": {k: _max_diff(one.metrics[k], four.metrics[k])
                                     for k in ("policy_loss", "value_loss", "entropy", "approx_kl",
                                               "grad_norm", "explained_variance")},
            "episode_returns_identical": bool(np.array_equal(one.metrics["episode_return"],
                                                             four.metrics["episode_return"], equal_nan=True)),
            "env_axis_sharding": str(four.state.obs.sharding.spec),
        }
        print(network, json.dumps({k: v for k, v in equality[network].items() if k != "config"}))
    (out / "equality.json").write_text(json.dumps(equality, indent=1) + "\n")

    config = ppo_jax.preset("CartPole-v1", data_parallel=4)
    start = time.perf_counter()
    result = ppo_jax.train_seeds(config, num_seeds=seeds, seed=0, devices=jax.devices()[:4], group_devices=4)
    wall = time.perf_counter() - start
    returns = np.asarray(result.metrics["episode_return"])
    learning = {
        "config": config.to_dict(), "num_seeds": seeds, "seed": 0, "devices": 4, "group_devices": 4,
        "wall_s_with_compile": round(wall, 1),
        "final_return": [round(float(x), 1) for x in result.final_return()],
        "best_update_return": [round(float(x), 1) for x in np.nanmax(returns, axis=1)],
        "first_update_reaching_475": [int(np.argmax(r >= 475)) + 1 if np.any(r >= 475) else None
                                      for r in returns],
    }
    print("learning", json.dumps({k: v for k, v in learning.items() if k != "config"}))
    (out / "learning.json").write_text(json.dumps(learning, indent=1) + "\n")
    return {"equality": equality, "learning": learning}


SUITE_ENVS = (("navix/Navix-Empty-5x5-v0", {}), ("brax/inverted_pendulum", {}),
              ("craftax/Craftax-Classic-Symbolic-v1", {}), ("MaskedCartPole-v1", {"network": "gru", "rnn_size": 16}))


def suites(out: Path) -> dict:
    """Every env suite (and a GRU) on a 2 x 2 (members x groups) mesh, with evaluation during
    training, a progress hook and a logger: 2 seeds, data_parallel=2, 2 updates (suites.json)."""
    import jax
    import numpy as np

    import ppo_jax
    from ppo_jax.tracking.loggers import JsonlLogger

    record = {}
    for env, extra in SUITE_ENVS:
        start = time.perf_counter()
        config = ppo_jax.PPOConfig(env=env, num_envs=4, num_steps=16, num_minibatches=2, total_timesteps=4 * 16 * 2,
                                   hidden_sizes=(32,), data_parallel=2, eval_every=1, eval_episodes=2, **extra)
        reports, log = [], out / f".{env.replace('/', '_')}.jsonl"
        result = ppo_jax.train_seeds(config, num_seeds=2, devices=jax.devices()[:4], group_devices=2,
                                     progress=reports.append, logger=JsonlLogger(log))
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        log.unlink()
        record[env] = {"mesh": dict(result.state.obs.sharding.mesh.shape),
                       "env_axis_sharding": str(result.state.obs.sharding.spec),
                       "losses_finite": bool(np.all(np.isfinite(result.metrics["policy_loss"]))),
                       "progress_reports": len(reports), "logger_lines": len(rows),
                       "eval_return": np.asarray(result.metrics["eval_return"]).round(2).tolist(),
                       "seconds_with_compile": round(time.perf_counter() - start, 1)}
        print(env, json.dumps(record[env]), flush=True)
    (out / "suites.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def scaling(out: Path, env: str, num_envs: int, counts: list[int], budget: int, rounds: int) -> None:
    """Env steps/s of one agent on each device count, alternating rounds (scaling.jsonl)."""
    import jax

    import ppo_jax
    from ppo_jax.analysis.benchmarking import append_jsonl, device_info, time_alternating

    counts = [c for c in counts if c <= len(jax.devices())]
    groups = max(counts)
    config = ppo_jax.preset(env, num_envs=num_envs, data_parallel=groups, total_timesteps=budget)
    programs = {}
    for count in counts:
        train = jax.jit(ppo_jax.make_train(config, devices=jax.devices()[:count]))
        key = jax.random.key(0)
        start = time.perf_counter()
        compiled = train.lower(key).compile()
        compile_s = time.perf_counter() - start
        jax.block_until_ready(compiled(key))
        programs[f"{count}"] = (compiled, (key,))
        print(f"{count} device(s): compiled in {compile_s:.1f} s", flush=True)
    wall, _ = time_alternating(programs, rounds)
    steps = config.num_updates * config.batch_size
    for name, times in wall.items():
        best = min(times)
        record = {"env": env, "num_envs": num_envs, "data_parallel": groups, "devices": int(name),
                  "env_steps": steps, "wall_s": times, "steps_per_s_best": steps / best,
                  "device": device_info()}
        append_jsonl(out / "scaling.jsonl", record)
        print(f"{name} device(s): {steps / best:,.0f} env steps/s (best of {rounds})", flush=True)


def craftax(out: Path, budget: int) -> None:
    """Craftax-Classic-Symbolic with the paper's PPO settings on one device (craftax.json)."""
    import jax
    import numpy as np

    import ppo_jax
    from ppo_jax.analysis.benchmarking import device_info

    config = ppo_jax.PPOConfig(
        env="craftax/Craftax-Classic-Symbolic-v1", num_envs=1024, num_steps=64, num_minibatches=8,
        update_epochs=4, total_timesteps=budget, hidden_sizes=(512, 512, 512), activation="tanh",
        hparams=ppo_jax.HParams(learning_rate=2e-4, gamma=0.99, gae_lambda=0.8, clip_eps=0.2,
                                ent_coef=0.01, vf_coef=0.5, max_grad_norm=1.0))
    train = jax.jit(ppo_jax.make_train(config))
    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = train.lower(key).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(key))
    run_s = time.perf_counter() - start
    returns = np.asarray(result.metrics["episode_return"])
    steps = np.asarray(result.metrics["timesteps"])
    every = max(1, len(returns) // 100)
    record = {"config": config.to_dict(), "device": device_info(), "compile_s": round(compile_s, 1),
              "run_s": round(run_s, 1), "env_steps": int(steps[-1]), "steps_per_s": float(steps[-1] / run_s),
              "final_return": float(result.final_return()),
              "curve": {"timesteps": steps[::every].tolist(), "episode_return": returns[::every].tolist()}}
    (out / "craftax.json").write_text(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("config", "curve")}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("check", help="CPU evidence: 4 forced devices equal 1; CartPole learns")
    c.add_argument("--seeds", type=int, default=4)
    sub.add_parser("suites", help="CPU: every suite on a 2 x 2 mesh with evaluation, progress and a logger")
    s = sub.add_parser("scaling", help="env steps/s of one agent against the device count")
    s.add_argument("--env", default="craftax/Craftax-Classic-Symbolic-v1")
    s.add_argument("--num-envs", type=int, default=1024)
    s.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    s.add_argument("--total-timesteps", type=int, default=1024 * 64 * 20)
    s.add_argument("--rounds", type=int, default=3)
    k = sub.add_parser("craftax", help="Craftax-Classic-Symbolic, the paper's PPO, on one device")
    k.add_argument("--total-timesteps", type=int, default=100_000_000)
    for q in (c, s, k, sub.choices["suites"]):
        q.add_argument("--out", type=Path, default=DEFAULT_OUT)
        q.add_argument("--no-manifest", action="store_true")
    args = p.parse_args(argv)

    if args.what in ("check", "suites") and FORCED not in os.environ.get("XLA_FLAGS", ""):
        # the device count is fixed when JAX starts: run again with 4 host devices
        env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {FORCED}".strip(),
               "JAX_PLATFORMS": "cpu"}
        return subprocess.call([sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])], env=env)

    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "check":
        check(args.out, args.seeds)
        files = {"equality.json": "one agent (8 envs, data_parallel=4), MLP and GRU: 1 device vs 4 forced "
                                  "CPU devices, largest differences",
                 "learning.json": "CartPole-v1 preset, data_parallel=4 over 4 forced CPU devices, 4 seeds"}
        experiment = "Data parallelism for one agent on CPU: 4 devices equal 1; CartPole learns with 4 groups"
    elif args.what == "suites":
        suites(args.out)
        files = {"suites.json": "navix, brax, craftax and a GRU on a 2 x 2 mesh of 4 forced CPU devices, with "
                                "evaluation, progress and a logger: 2 updates each"}
        experiment = "Data parallelism composes with every env suite, evaluation, progress and loggers"
    elif args.what == "scaling":
        scaling(args.out, args.env, args.num_envs, args.devices, args.total_timesteps, args.rounds)
        files = {"scaling.jsonl": "env steps/s of one agent per device count"}
        experiment = "Data parallelism for one agent: env steps/s against the device count"
    else:
        craftax(args.out, args.total_timesteps)
        files = {"craftax.json": "Craftax-Classic-Symbolic, paper PPO settings: wall time, steps/s, curve"}
        experiment = "Craftax-Classic-Symbolic with the Craftax paper's PPO settings on one device"
    if not args.no_manifest:
        from ppo_jax.analysis.benchmarking import write_manifest
        write_manifest(args.out, experiment=experiment, files=files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
