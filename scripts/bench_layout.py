"""Speed of the working tree's ppo_jax against an older commit, in ONE process.

    python scripts/bench_layout.py                          # CartPole-v1 preset, 1 and 8 seeds, 5 rounds
    python scripts/bench_layout.py --total-timesteps 2048 --repeats 2 --out /tmp/layout.jsonl
    python scripts/bench_layout.py --ref 82ab9a5 --populations 8 --total-timesteps 102400
    python scripts/bench_layout.py --ref 82ab9a5 --hlo       # compiled-program statistics, no timing

Version A ("new") is the `ppo_jax` this Python imports (the working tree with
an editable install). Version B ("old") is the package at git ref `--ref`
(default c26c73d, the last commit of the flat layout): `git archive <ref>
ppo_jax | tar -x` into a temporary folder, renamed to `ppo_jax_ref`, with
every `ppo_jax` import in its .py files rewritten to `ppo_jax_ref` (a regex
over import statements and `importlib.import_module("ppo_jax...")` strings).
That temporary folder's package is loaded by an explicit import spec (its
submodules resolve through the package's own path), without touching the
import path.
The import is checked to load no module of the working tree's `ppo_jax`.

Both versions train the same settings: `ppo_jax.preset("CartPole-v1")` of
version A (with `--total-timesteps` and `--set` overrides), handed to version
B field by field (`--config-from ref` uses B's own preset instead). A field
that B lacks must hold A's default, else the script stops. Programs are built
as `train_seeds` builds them: hparams as float32 arrays (traced, not
constants), the config's hparams reset to defaults; a population of P seeds
is `jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))` on
`jax.random.split(jax.random.key(seed), P)` (where the version has
`make_population`, the builder `train_seeds` uses since the subpackage layout:
`make_population(config).train` on those keys' data), one seed is `jax.jit(
make_train(config))` on the first of `split(key(seed), 1)` (seed 0 of
`train_seeds`). Each program is compiled ahead of time once (compile seconds
recorded), run once untimed, then the timed runs
(`jax.block_until_ready(program(keys, hparams))`) alternate over every
(version, population) program, forwards then backwards each round (A1 B1 A8
B8, B8 A8 B1 A1, ...), so load changes on a shared machine hit all alike.

Output: one JSON line per (version, population, round) in `--out` (wall and
process-CPU seconds, compile seconds, env steps/s, provenance), a
`manifest.json` beside it, and a printed summary: per population the median
seconds of each version, the ratio new / old of the medians, a 95% bootstrap
interval of that ratio (rounds resampled in pairs, since A and B of a round
ran under the same load) and the min / max of the per-round ratios.

`--hlo` skips the timing and compares the compiled programs instead (no clock
involved): XLA's `cost_analysis()` (flops, bytes accessed), `memory_analysis()`,
the HLO instructions of `compiled.as_text()` per opcode (all, and outside fused
computations), custom-call targets (host callbacks), and the jaxpr's
primitives per kind (recursing into scan/cond/while bodies), and what one
call executes (`executed_counts`: instructions outside fusions, dot flops,
bytes written, each weighted by the known trip counts of the enclosing while
loops; XLA's own cost_analysis counts a loop body once). Written to
`hlo-<ref>.json` beside `--out`; `--hlo-dir DIR` also saves the HLO texts.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

import ppo_jax
from ppo_jax.analysis.benchmarking import (
    append_jsonl,
    command_line,
    device_info,
    git_state,
    machine_info,
    read_manifest,
    source_digest,
    time_alternating,
    write_manifest,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "scripts" / "results" / "layout-speed" / "results.jsonl"
REF_NAME = "ppo_jax_ref"
# `from ppo_jax...` / `import ppo_jax...` at the start of a statement, and
# importlib.import_module("ppo_jax...") / (f"ppo_jax.{name}") strings.
IMPORT_RE = re.compile(r"^(\s*(?:from|import)\s+)ppo_jax\b", re.MULTILINE)
DYNAMIC_RE = re.compile(r"""(import_module\(\s*f?["'])ppo_jax\b""")


# ---------------------------------------------------------------- version B


def rewrite_imports(source: str, name: str = REF_NAME) -> str:
    """`source` with its ppo_jax imports pointing at package `name` instead."""
    source = IMPORT_RE.sub(lambda m: m.group(1) + name, source)
    return DYNAMIC_RE.sub(lambda m: m.group(1) + name, source)


def import_ref(ref: str, workdir: Path, name: str = REF_NAME):
    """The package at git `ref`, imported as top-level `name`; (module, full commit hash)."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "ppo_jax"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    (workdir / "ppo_jax").rename(workdir / name)
    for path in (workdir / name).rglob("*.py"):
        path.write_text(rewrite_imports(path.read_text(), name))
    before = {m for m in sys.modules if m == "ppo_jax" or m.startswith("ppo_jax.")}
    # Loaded from its folder by an explicit spec: its absolute imports of `name.*` then
    # resolve through the package's own __path__; the import path stays as it is.
    spec = importlib.util.spec_from_file_location(
        name, workdir / name / "__init__.py", submodule_search_locations=[str(workdir / name)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    leaked = {m for m in sys.modules if m == "ppo_jax" or m.startswith("ppo_jax.")} - before
    if leaked:
        raise SystemExit(f"importing {name} loaded working-tree modules {sorted(leaked)}: "
                         "an import was not rewritten")
    if not Path(module.__file__).resolve().is_relative_to(workdir.resolve()):
        raise SystemExit(f"{name} was imported from {module.__file__}, not from {workdir}")
    return module, commit


# ---------------------------------------------------------------- configs and programs


def parse_overrides(items: list[str]) -> dict:
    """["num_envs=4", "activation=tanh", "hidden_sizes=(64,64)"] -> typed overrides."""
    import ast

    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not _:
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def config_for(pkg, source, env: str) -> object:
    """`source` (a PPOConfig of either version) as a PPOConfig of `pkg`.

    Fields `pkg` lacks must hold the default of `source`'s own class."""
    target, source_cls = pkg.PPOConfig, type(source)
    names = {f.name for f in dataclasses.fields(target)}
    source_default = source_cls(env=env)
    missing = {}
    for f in dataclasses.fields(source):
        if f.name not in names and f.name != "hparams":
            value = getattr(source, f.name)
            if value != getattr(source_default, f.name):
                missing[f.name] = value
    if missing:
        raise SystemExit(f"{pkg.__name__}.PPOConfig has no field(s) {missing}: the versions "
                         "cannot run the same settings")
    hp_names = {f.name for f in dataclasses.fields(pkg.HParams)}
    hp = {k: v for k, v in dataclasses.asdict(source.hparams).items() if k in hp_names}
    static = {f.name: getattr(source, f.name) for f in dataclasses.fields(source)
              if f.name in names and f.name != "hparams" and f.init}
    return target(**static, hparams=pkg.HParams(**hp))


def build_program(pkg, config, population: int, seed: int):
    """(jitted program, args) as `train_seeds` builds them (population 1: jit(train) on one key)."""
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    static_config = dataclasses.replace(config, hparams=pkg.HParams())
    train = pkg.make_train(static_config)
    keys = jax.random.split(jax.random.key(seed), population)
    if population == 1:
        return jax.jit(train), (keys[0], hparams)
    if hasattr(pkg, "make_population"):  # the one population builder train_seeds uses since the layout move
        return pkg.make_population(static_config).train, (jax.random.key_data(keys), hparams)
    return jax.jit(jax.vmap(train, in_axes=(0, None))), (keys, hparams)


def episode_returns(out):
    """The episode_return metric of a TrainOutput or of a population's (states, metrics)."""
    return (out.metrics if hasattr(out, "metrics") else out[1])["episode_return"]


def final_return(out) -> float:
    """Mean over agents of the last 10% of updates' episode_return (NaN-skipping)."""
    ret = np.asarray(episode_returns(out), np.float64)
    ret = ret.reshape((-1, ret.shape[-1]))
    window = max(1, ret.shape[-1] // 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no episode ended
        return float(np.nanmean(ret[:, -window:]))


# ---------------------------------------------------------------- compiled-program statistics

INSTR_RE = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.*)$")
OPCODE_RE = re.compile(r"(?<![\w\-.%])([a-z][a-z0-9\-]*)\(")
COMP_RE = re.compile(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
CALLS_RE = re.compile(r"calls=%?([\w.\-]+)")
TARGET_RE = re.compile(r'custom_call_target="([^"]+)"')


def hlo_counts(text: str) -> dict:
    """Opcode counts of an HLO module's text: all instructions, and outside fusions."""
    fused = set()
    for line in text.splitlines():
        m = INSTR_RE.match(line)
        if m and " fusion(" in line:
            fused.update(CALLS_RE.findall(line))
    all_ops, top_ops, targets = collections.Counter(), collections.Counter(), collections.Counter()
    current = None
    for line in text.splitlines():
        if line.rstrip().endswith("{") and "=" not in line.split("{")[0].split("(")[0]:
            c = COMP_RE.match(line)
            current = c.group(1) if c else None
            continue
        m = INSTR_RE.match(line)
        if not m:
            continue
        op = OPCODE_RE.search(m.group(1))
        if not op:
            continue
        all_ops[op.group(1)] += 1
        if current not in fused:
            top_ops[op.group(1)] += 1
        if op.group(1) == "custom-call":
            targets.update(TARGET_RE.findall(line))
    return {"all": dict(sorted(all_ops.items())), "outside_fusions": dict(sorted(top_ops.items())),
            "custom_call_targets": dict(targets), "total": sum(all_ops.values()),
            "total_outside_fusions": sum(top_ops.values()), "computations_fused": len(fused)}


HEADER_RE = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s+\(.*\)\s+->\s+.*\{\s*$")
NAMED_RE = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\((?:[^()]|\([^()]*\))*\)|\S+)\s+"
                      r"([a-z][a-z0-9\-]*)\((.*)$")
SHAPE_RE = re.compile(r"^([a-z]+[0-9]*)\[([0-9,]*)\]")
TRIP_RE = re.compile(r'"known_trip_count":\{"n":"(\d+)"\}')
DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4,
               "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
TRANSCENDENTAL = {"exponential", "log", "tanh", "logistic", "log-plus-one", "exponential-minus-one",
                  "sqrt", "rsqrt", "power", "sine", "cosine", "erf", "atan2", "cbrt"}
FREE_OPS = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast"}


def _shape(text: str):
    """(dtype, dims) of an array shape string like f32[8,64]{1,0}; None for tuples/tokens."""
    m = SHAPE_RE.match(text)
    if not m:
        return None
    return m.group(1), tuple(int(d) for d in m.group(2).split(",") if d)


def executed_counts(text: str) -> dict:
    """What one call of the program executes, from its HLO text and XLA's known trip counts.

    Every computation gets a multiplicity: ENTRY 1; a while body its caller's
    times the loop's `known_trip_count` (the condition one more); a fusion's or
    a call's computation its caller's; each branch of a `conditional` its
    caller's (an upper bound: one branch runs). Reducers (`to_apply` of
    reduce, sort, scatter, ...) are not followed. Returned: executed
    instructions outside fusions per opcode (kernels and loop bookkeeping;
    parameters, constants, tuples and bitcasts left out), dot flops
    (2 x output elements x contracted size), transcendental elements and the
    bytes written by instructions outside fusions, all weighted by multiplicity;
    plus while loops without a known trip count (counted once).
    """
    comps, order, entry = {}, [], None
    current = None
    for line in text.splitlines():
        h = HEADER_RE.match(line)
        if h:
            current = h.group(2)
            comps[current] = []
            order.append(current)
            if h.group(1):
                entry = current
            continue
        m = NAMED_RE.match(line)
        if m and current is not None:
            comps[current].append(m.groups())
    edges = collections.defaultdict(list)  # caller -> [(callee, factor)]
    fused, unknown_trips = set(), 0
    for comp, instrs in comps.items():
        for _name, _shape_text, op, rest in instrs:
            if op == "while":
                trip = TRIP_RE.search(rest)
                n = int(trip.group(1)) if trip else 1
                unknown_trips += trip is None
                edges[comp].append((re.search(r"body=%?([\w.\-]+)", rest).group(1), n))
                edges[comp].append((re.search(r"condition=%?([\w.\-]+)", rest).group(1), n + 1))
            elif op == "fusion":
                callee = re.search(r"calls=%?([\w.\-]+)", rest).group(1)
                fused.add(callee)
                edges[comp].append((callee, 1))
            elif op == "call":
                edges[comp].append((re.search(r"to_apply=%?([\w.\-]+)", rest).group(1), 1))
            elif op == "conditional":
                branches = re.search(r"branch_computations=\{([^}]*)\}", rest)
                names = (branches.group(1).split(",") if branches else
                         re.findall(r"(?:true|false)_computation=%?([\w.\-]+)", rest))
                edges[comp].extend((b.strip().lstrip("%"), 1) for b in names)
    # fusions nested in fused computations are fused too
    changed = True
    while changed:
        changed = False
        for comp in list(fused):
            for callee, _ in edges.get(comp, ()):
                if callee not in fused:
                    fused.add(callee)
                    changed = True
    mult = collections.Counter({entry: 1})
    # HLO text lists callees before callers: visit callers first (reverse order).
    for comp in reversed(order):
        for callee, factor in edges.get(comp, ()):
            mult[callee] += mult[comp] * factor
    ops, dot_flops, trans, bytes_out = collections.Counter(), 0, 0, 0
    for comp, instrs in comps.items():
        m = mult.get(comp, 0)
        if not m:
            continue
        shapes = {name: _shape(shape_text) for name, shape_text, _, _ in instrs}
        for name, _shape_text, op, rest in instrs:
            shape = shapes[name]
            size = int(np.prod(shape[1])) if shape else 0
            if op == "dot" and shape:
                lhs = rest.split(",")[0].strip().lstrip("%").rstrip(")")
                dims = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", rest)
                lhs_shape = shapes.get(lhs)
                k = (int(np.prod([lhs_shape[1][int(d)] for d in dims.group(1).split(",") if d]))
                     if lhs_shape and dims else 0)
                dot_flops += m * 2 * size * k
            if op in TRANSCENDENTAL:
                trans += m * size
            if comp not in fused and op not in FREE_OPS:
                ops[op] += m
                if shape:
                    bytes_out += m * size * DTYPE_BYTES.get(shape[0], 4)
    return {"executed_ops_outside_fusions": dict(sorted(ops.items())),
            "executed_total_outside_fusions": sum(ops.values()),
            "dot_flops": dot_flops, "transcendental_elements": trans,
            "bytes_written_outside_fusions": bytes_out, "while_loops_unknown_trip": unknown_trips}


def jaxpr_counts(fn, args) -> dict:
    """Primitive counts of fn's jaxpr, recursing into sub-jaxprs (scan, cond, while, pjit)."""
    counts = collections.Counter()

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return dict(sorted(counts.items()))


def program_stats(program, args, compiled, hlo_dir: Path | None, label: str) -> dict:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    keep = ("flops", "transcendentals", "bytes accessed", "optimal_seconds", "utilization")
    mem = compiled.memory_analysis()
    memory = {k: getattr(mem, k) for k in dir(mem)
              if k.endswith("_in_bytes") and not k.startswith("_")} if mem is not None else None
    text = compiled.as_text()
    if hlo_dir is not None:
        hlo_dir.mkdir(parents=True, exist_ok=True)
        (hlo_dir / f"{label}.hlo.txt").write_text(text)
    return {"cost_analysis": {k: float(v) for k, v in (cost or {}).items() if k in keep},
            "memory_analysis": memory, "hlo": hlo_counts(text), "executed": executed_counts(text),
            "jaxpr": jaxpr_counts(program, args)}


# ---------------------------------------------------------------- summary


def bootstrap_ratio(new: list[float], old: list[float], draws: int = 10000, seed: int = 0):
    """95% interval of median(new) / median(old), rounds resampled in (new, old) pairs."""
    new, old = np.asarray(new), np.asarray(old)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(new), size=(draws, len(new)))
    ratios = np.median(new[idx], axis=1) / np.median(old[idx], axis=1)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def summarize(wall: dict, populations: list[int]) -> list[dict]:
    rows = []
    for pop in populations:
        new, old = wall[f"new/{pop}"], wall[f"old/{pop}"]
        per_round = [n / o for n, o in zip(new, old, strict=True)]
        lo, hi = bootstrap_ratio(new, old)
        rows.append({"population": pop, "median_new_s": float(np.median(new)),
                     "median_old_s": float(np.median(old)),
                     "ratio_new_over_old": float(np.median(new) / np.median(old)),
                     "bootstrap95": [lo, hi], "round_ratio_min": min(per_round),
                     "round_ratio_max": max(per_round), "rounds": len(new)})
    return rows


# ---------------------------------------------------------------- main


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--ref", default="c26c73d", help="git ref of version B (default c26c73d)")
    p.add_argument("--env", default="CartPole-v1", help="preset env id (default CartPole-v1)")
    p.add_argument("--populations", type=int, nargs="+", default=[1, 8],
                   help="vmapped seeds per program (default 1 8)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument("--total-timesteps", type=int, default=None,
                   help="training budget per agent (default: the preset's)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="more preset overrides, e.g. num_envs=4 activation=tanh")
    p.add_argument("--config-from", choices=("new", "ref"), default="new",
                   help="whose preset defines the settings both run (default new)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"JSON lines (appended; default {DEFAULT_OUT.relative_to(REPO)})")
    p.add_argument("--hlo", action="store_true",
                   help="compare compiled programs (cost/memory analysis, op counts), no timing")
    p.add_argument("--hlo-dir", type=Path, default=None, help="with --hlo: save the HLO texts here")
    p.add_argument("--no-manifest", action="store_true", help="do not write manifest.json")
    args = p.parse_args(argv)
    if args.repeats < 1 or min(args.populations) < 1:
        p.error("--repeats and --populations must be >= 1")

    overrides = parse_overrides(args.set)
    if args.total_timesteps is not None:
        overrides["total_timesteps"] = args.total_timesteps
    with tempfile.TemporaryDirectory(prefix="bench_layout_") as tmp:
        ref_pkg, ref_commit = import_ref(args.ref, Path(tmp))
        if args.config_from == "new":
            config_new = ppo_jax.preset(args.env, **overrides)
            config_old = config_for(ref_pkg, config_new, args.env)
        else:
            config_old = ref_pkg.preset(args.env, **overrides)
            config_new = config_for(ppo_jax, config_old, args.env)
        run(args, {"new": ppo_jax, "old": ref_pkg}, {"new": config_new, "old": config_old},
            ref_commit)


def run(args, pkgs: dict, configs: dict, ref_commit: str) -> None:
    git = git_state()
    provenance = {
        "run_id": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
        "env": args.env, "ref": args.ref, "ref_commit": ref_commit,
        "new_commit": git["commit"], "new_dirty": git["ppo_jax_dirty"],
        "new_source_digest": source_digest(), "jax": jax.__version__,
        "device": device_info(), "cpu_model": machine_info()["cpu_model"],
    }
    config = configs["new"]
    print(f"new: working tree {str(git['commit'])[:7]}{' (dirty)' if git['ppo_jax_dirty'] else ''}"
          f"  old: {args.ref} = {ref_commit[:7]}  ({provenance['device']['kind']})")
    print(f"settings: {config}")

    programs, compile_s, outputs, stats = {}, {}, {}, {}
    for pop in args.populations:
        for version in ("new", "old"):
            name = f"{version}/{pop}"
            program, prog_args = build_program(pkgs[version], configs[version], pop, args.seed)
            start = time.perf_counter()
            compiled = program.lower(*prog_args).compile()
            compile_s[name] = time.perf_counter() - start
            print(f"compiled {name}: {compile_s[name]:.2f} s", flush=True)
            if args.hlo:
                stats[name] = program_stats(program, prog_args, compiled, args.hlo_dir,
                                            name.replace("/", "_"))
                continue
            outputs[name] = jax.block_until_ready(compiled(*prog_args))  # untimed warm-up
            programs[name] = (compiled, prog_args)

    if args.hlo:
        report_hlo(args, stats, provenance, compile_s)
        return

    for pop in args.populations:  # same settings, same keys: do the versions train alike?
        a, b = outputs[f"new/{pop}"], outputs[f"old/{pop}"]
        same = bool(np.array_equal(np.asarray(episode_returns(a)), np.asarray(episode_returns(b)),
                                   equal_nan=True))
        print(f"{pop} seed(s): final return new {final_return(a):.1f}, old {final_return(b):.1f}"
              f" ({'identical' if same else 'different'} episode returns)")
        provenance[f"identical_returns_{pop}"] = same

    steps = config.num_updates * config.batch_size

    def on_run(r, name, wall_s, cpu_s):
        version, pop = name.split("/")
        append_jsonl(args.out, {
            **provenance, "version": version, "package": pkgs[version].__name__,
            "population": int(pop), "round": r, "wall_s": wall_s, "cpu_s": cpu_s,
            "compile_s": compile_s[name], "total_timesteps": steps,
            "env_steps_per_s": steps * int(pop) / wall_s,
            "final_return": final_return(outputs[name]),
            "loadavg": list(os.getloadavg()),
        })
        print(f"round {r}: {name:6s} {wall_s:8.3f} s wall {cpu_s:8.3f} s CPU", flush=True)

    wall, _cpu = time_alternating(programs, args.repeats, on_run=on_run)
    print(f"\n{'seeds':>5} {'new s':>9} {'old s':>9} {'new/old':>8} {'95% bootstrap':>17}"
          f" {'round min..max':>15}")
    for row in summarize(wall, args.populations):
        lo, hi = row["bootstrap95"]
        print(f"{row['population']:>5} {row['median_new_s']:>9.3f} {row['median_old_s']:>9.3f}"
              f" {row['ratio_new_over_old']:>8.3f} {lo:>8.3f}..{hi:<8.3f}"
              f" {row['round_ratio_min']:>6.3f}..{row['round_ratio_max']:<6.3f}")
    print(f"medians of {args.repeats} alternating rounds, compile excluded; rows in {args.out}")
    if not args.no_manifest:
        write_manifest(
            args.out.parent, experiment=folder_experiment(args.out.parent, (
                f"{args.env} run time of the working tree's ppo_jax against {args.ref} "
                f"({ref_commit[:7]}), populations {args.populations}, in one process, alternating")),
            files={args.out.name: "one row per (version, population, round): wall and CPU "
                   "seconds, compile seconds, provenance"},
            command=folder_command(args.out.parent, args.out.name), device=provenance["device"])


def folder_command(folder: Path, file_name: str):
    """This run's command for `folder`'s manifest: kept per file where the manifest has a
    {file: command} mapping (a folder filled by several runs), else the plain command line."""
    try:
        old = read_manifest(folder).get("command")
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict):
        return {**old, file_name: command_line()}
    return None


def folder_experiment(folder: Path, default: str) -> str:
    """The experiment of `folder`'s existing manifest (a folder shared by several runs), else `default`."""
    try:
        return read_manifest(folder).get("experiment") or default
    except (OSError, ValueError):
        return default


def report_hlo(args, stats: dict, provenance: dict, compile_s: dict) -> None:
    path = args.out.parent / f"hlo-{args.ref}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**provenance, "compile_s": compile_s, "programs": stats},
                               indent=1) + "\n")
    for pop in args.populations:
        new, old = stats[f"new/{pop}"], stats[f"old/{pop}"]
        print(f"\n== {pop} seed(s): new / old")
        for k in sorted(set(new["cost_analysis"]) | set(old["cost_analysis"])):
            n, o = new["cost_analysis"].get(k), old["cost_analysis"].get(k)
            print(f"  cost {k:18s} {n!s:>14} {o!s:>14}")
        for k in sorted(new["memory_analysis"] or {}):
            print(f"  mem  {k:34s} {new['memory_analysis'][k]:>10} "
                  f"{(old['memory_analysis'] or {}).get(k)!s:>10}")
        for part in ("total", "total_outside_fusions", "computations_fused"):
            print(f"  hlo  {part:34s} {new['hlo'][part]:>10} {old['hlo'][part]:>10}")
        for kind in ("all", "outside_fusions"):
            ops = sorted(set(new["hlo"][kind]) | set(old["hlo"][kind]))
            diff = {op: (new["hlo"][kind].get(op, 0), old["hlo"][kind].get(op, 0)) for op in ops}
            diff = {op: v for op, v in diff.items() if v[0] != v[1]}
            print(f"  hlo {kind} ops that differ: {diff}")
        print(f"  custom-call targets: new {new['hlo']['custom_call_targets']} "
              f"old {old['hlo']['custom_call_targets']}")
        ops = sorted(set(new["jaxpr"]) | set(old["jaxpr"]))
        diff = {op: (new["jaxpr"].get(op, 0), old["jaxpr"].get(op, 0)) for op in ops}
        print(f"  jaxpr primitives that differ: "
              f"{ {op: v for op, v in diff.items() if v[0] != v[1]} }")
    print(f"\nwritten: {path}")
    if not args.no_manifest:
        write_manifest(
            args.out.parent, experiment=folder_experiment(args.out.parent, (
                f"{args.env}: the working tree's ppo_jax against {args.ref} ({provenance['ref_commit'][:7]})"
                ", compiled programs compared (cost and memory analysis, HLO and jaxpr op counts, "
                "executed kernels weighted by loop trip counts)")),
            files={path.name: f"--hlo against {args.ref}: compiled-program statistics of both "
                   f"versions, populations {args.populations}"},
            command=folder_command(args.out.parent, path.name), device=provenance["device"])


if __name__ == "__main__":
    main()
