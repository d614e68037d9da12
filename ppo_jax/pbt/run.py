"""`ppo_jax.pbt`: population-based training (Jaderberg et al. 2017) as one jitted function.

A PBT run is a population of P members, each a PPO agent with its own
`HParams`. Training is a `lax.scan` over generations; a generation is
"exploit/explore (from the second generation on), then `ready_every` PPO
updates of every member" (`exploit.py` has the exploit/explore step). The
hyperparameters are traced (`HParams`), so all members share one program, and
several independent PBT runs (seeds) are vmapped over, as in `sweep`. There is
no host round trip between generations: a whole call is one XLA program.

Over several devices the member axis is sharded (`jax.jit` with sharding
constraints); the exploit step's gathers by parent index are left to XLA's
collectives.

Examples:
  A tiny budget: 4 members, 2 generations of 2 updates:

  >>> import ppo_jax
  >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=2048, num_envs=4,
  ...                            num_steps=128, hidden_sizes=(16,))
  >>> res = ppo_jax.pbt(config, {"learning_rate": (1e-4, 1e-2, "log")}, population=4,
  ...                   ready_every=2, num_seeds=1, seed=0)
  >>> res.metrics["episode_return"].shape     # [num_seeds, population, num_updates]
  (1, 4, 4)
  >>> res.schedules["learning_rate"].shape    # [num_seeds, population, num_generations]
  (1, 4, 2)
  >>> res.parents[0, :, 0].tolist()           # no copying before the first exploit step
  [0, 1, 2, 3]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams
from ppo_jax.core.iteration import METRIC_NAMES
from ppo_jax.envs import Environment, EnvParams
from ppo_jax.parallel.compile import compile_population
from ppo_jax.parallel.mesh import (
    check_devices,
    check_group_devices,
    member_devices,
    member_sharding,
    population_mesh,
    sharding_constraint,
    to_host,
)
from ppo_jax.pbt.exploit import ExploitSettings, exploit_explore, sample_population
from ppo_jax.pbt.result import PBTResult, check_resume, concat_history
from ppo_jax.pbt.space import parse_init_space, parse_space
from ppo_jax.pbt.state import Fitness, PBTPlan, PBTState, fitness_name
from ppo_jax.tracking.agents import pbt_agents
from ppo_jax.tracking.loggers import LoggerArg, bind_logger
from ppo_jax.tracking.progress import Progress, resolve_progress
from ppo_jax.train import Population, make_population, seed_keys
from ppo_jax.util.checks import check_integer, check_positive_int, is_real


def mean_return(metrics: dict) -> jax.Array:
    """The default fitness: each member's mean `episode_return` over the generation.

    Args:
      metrics: one generation's metrics, dict of float32 [P, ready_every].

    Returns:
      float32 [P]: the nanmean over the generation's updates (NaN when a member
      completed no episode in the whole generation; NaN ranks worst).
    """
    return jnp.nanmean(metrics["episode_return"], axis=-1)


# --- device side ---------------------------------------------------------------------
def init_run(key: jax.Array, base: HParams, *, population: Population, plan: PBTPlan) -> PBTState:
    """A fresh run: P members drawn from `plan.init_ranges` (other fields: `base`'s)."""
    hp_key, member_key, pbt_key = jax.random.split(key, 3)
    hparams = sample_population(hp_key, base, plan.init_ranges, plan.population)
    members = population.init(jax.random.key_data(jax.random.split(member_key, plan.population)), hparams)
    return PBTState(members, hparams, jnp.full((plan.population,), jnp.nan, jnp.float32), pbt_key,
                    jnp.zeros((), jnp.int32))


def _keep(key, members, hparams, fitness):
    """The first generation's "exploit step": every member is its own parent."""
    return members, hparams, jnp.arange(fitness.shape[0], dtype=jnp.int32)


def generation_step(carry: PBTState, _, *, population: Population, plan: PBTPlan,
                    constrain: Callable) -> tuple[PBTState, dict]:
    """Scan body over generations: exploit/explore (not before the first), then K updates.

    Returns the next state and this generation's history: metrics (dict of
    [P, K]), the hparams the members trained with ([P]), their parents (int32
    [P]: whose state each member started the generation from) and fitness ([P]).
    """
    key, step_key = jax.random.split(carry.key)
    exploit = functools.partial(exploit_explore, ranges=plan.ranges, settings=plan.settings)
    members, hparams, parents = jax.lax.cond(carry.generation > 0, exploit, _keep, step_key,
                                             carry.members, carry.hparams, carry.fitness)
    members, hparams = constrain((members, hparams))
    # The population's progress hook and logger share make_trainer's per-update callback:
    # the report is reduced over members and seeds on device, loggers get a row per member.
    members, metrics = population.run(members, hparams, plan.ready_every)
    fitness = plan.fitness(metrics).astype(jnp.float32)
    history = {"metrics": metrics, "hparams": hparams, "parents": parents, "fitness": fitness}
    return PBTState(members, hparams, fitness, key, carry.generation + 1), history


def run_generations(state: PBTState, *, population: Population, plan: PBTPlan,
                    constrain: Callable) -> tuple[PBTState, dict]:
    """`plan.num_generations` generations of one run: history leaves gain a leading [G]."""
    body = functools.partial(generation_step, population=population, plan=plan, constrain=constrain)
    return jax.lax.scan(body, state, None, length=plan.num_generations)


def build_program(config: PPOConfig, env, env_params, devices: tuple | Mesh, plan: PBTPlan, hook,
                  fresh: bool, sink=None) -> Callable:
    """Jitted PBT program over S vmapped runs.

    fresh: (key_data [S, k], base HParams of scalars) -> (PBTState, history);
    else:  (PBTState with leaves [S, ...]) -> (PBTState, history).
    History leaves are [S, G, P, ...].
    """
    # The members: one population program (per-member HParams), vmapped again over runs.
    population = make_population(config, env, env_params, hook, sink, shared_hparams=False,
                                 devices=devices if isinstance(devices, Mesh) else None)
    run = functools.partial(run_generations, population=population, plan=plan,
                            constrain=sharding_constraint(devices))
    if not fresh:
        return jax.jit(jax.vmap(run))

    def program(key_data: jax.Array, base: HParams):
        start = lambda k: run(init_run(jax.random.wrap_key_data(k), base, population=population, plan=plan))
        return jax.vmap(start)(key_data)

    return jax.jit(program)


def check_ready_every(ready_every: Any, config: PPOConfig) -> int:
    """K: a divisor of config.num_updates that leaves at least 2 generations."""
    ready_every = check_positive_int(ready_every, "ready_every", "pbt")
    total = config.num_updates
    divisors = [d for d in range(1, total // 2 + 1) if total % d == 0]
    hint = f"divisors of {total} that leave >= 2 generations: {_few(divisors)}"
    if total % ready_every:
        raise ValueError(
            f"pbt: ready_every={ready_every} does not divide the run's {total} updates "
            f"(config.num_updates), so the last generation would be cut short; {hint}")
    if total // ready_every < 2:
        raise ValueError(
            f"pbt: ready_every={ready_every} leaves {total // ready_every} generation of the run's "
            f"{total} updates, so no member would ever be exploited; PBT needs >= 2 generations; "
            + (hint if divisors else f"a run of {total} update(s) is too short: raise total_timesteps"))
    return ready_every


def _few(values: list, shown: int = 12) -> str:
    return ", ".join(map(str, values[:shown])) + (", ..." if len(values) > shown else "")


def check_settings(population: Any, truncation: Any, perturb_factors: Any,
                   resample_probability: Any) -> tuple[int, ExploitSettings]:
    """population >= 2 and exploit/explore settings it can honour."""
    population = check_positive_int(population, "population", "pbt")
    if population < 2:
        raise ValueError(f"pbt: population must be >= 2 (members exploit each other), got {population}")
    if not is_real(truncation) or not 0.0 <= truncation <= 0.5:
        raise ValueError(f"pbt: truncation must be a fraction in [0, 0.5] (the bottom fraction copies "
                         f"from the top fraction of the same size; 0: no copying), got {truncation!r}")
    if not (isinstance(perturb_factors, (tuple, list)) and len(perturb_factors) == 2
            and all(is_real(f) and f > 0 for f in perturb_factors)):
        raise ValueError(f"pbt: perturb_factors must be two positive numbers (e.g. (0.8, 1.2)), got "
                         f"{perturb_factors!r}")
    if not is_real(resample_probability) or not 0.0 <= resample_probability <= 1.0:
        raise ValueError(f"pbt: resample_probability must be in [0, 1], got {resample_probability!r}")
    settings = ExploitSettings(float(truncation), tuple(float(f) for f in perturb_factors),
                               float(resample_probability))
    if truncation > 0 and settings.num_replaced(population) == 0:
        raise ValueError(
            f"pbt: population={population} is too small for truncation={truncation}: "
            f"floor({truncation} * {population}) = 0 members would be replaced each generation; use "
            f"population >= {math.ceil(1 / truncation)}, a larger truncation, or truncation=0 "
            "(no copying)")
    return population, settings


def check_fitness(fitness: Any, population: int, ready_every: int) -> Fitness:
    """The fitness function, checked on abstract metrics to return float [population]."""
    if fitness is None:
        return mean_return
    if not callable(fitness):
        raise ValueError(f"pbt: fitness must be a function of the metrics or None, got {fitness!r}")
    abstract = {name: jax.ShapeDtypeStruct((population, ready_every), jnp.float32)
                for name in METRIC_NAMES}
    where = (f"one generation's metrics: a dict of float32 [population, ready_every] = "
             f"[{population}, {ready_every}] (keys {', '.join(METRIC_NAMES)})")
    try:
        out = jax.eval_shape(fitness, abstract)
    except Exception as err:
        raise ValueError(f"pbt: fitness failed on {where}: {err!r}") from None
    shape = getattr(out, "shape", None)
    dtype = getattr(out, "dtype", None)
    if shape != (population,) or dtype is None or not (
            jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        got = f"{dtype}{list(shape)}" if shape is not None else repr(out)
        raise ValueError(f"pbt: fitness must return one number per member, float [population] = "
                         f"[{population}], given {where}; got {got}")
    return fitness




# --- host side -------------------------------------------------------------------------
def _run_program(static_config, env, env_params, devices, plan, hook, args, fresh, sink=None):
    """Compiles (or reuses) and runs one program; (state, history, compiled_now)."""
    program, compiled_now = compile_population(
        build_program, (static_config, env, env_params, devices, plan, hook, fresh, sink), args)
    state, history = program(*args)
    return state, history, compiled_now


def _place_state(state: PBTState, devices: tuple | Mesh) -> PBTState:
    """A resumed state's arrays with the member axis (axis 1, after seeds) over `devices`."""
    members = member_sharding(devices, 1)
    replicated = NamedSharding(members.mesh, PartitionSpec())
    put = lambda x, s: jax.device_put(x, s)
    return PBTState(
        members=jax.tree.map(lambda x: put(x, members), state.members),
        hparams=jax.tree.map(lambda x: put(x, members), state.hparams),
        fitness=put(state.fitness, members),
        key=put(state.key, replicated),
        generation=put(state.generation, replicated),
    )


def _history_to_host(history: dict) -> dict:
    """Device history [S, G, P, ...] -> host arrays [S, P, G, ...] (metrics: [S, P, G * K])."""
    host = lambda x: np.swapaxes(to_host(x), 1, 2)
    metrics = {}
    for name, value in history["metrics"].items():
        v = host(value)  # [S, P, G, K]
        metrics[name] = v.reshape(v.shape[0], v.shape[1], -1).astype(np.float32)
    return {
        "metrics": metrics,
        "hparams": {f: host(getattr(history["hparams"], f)).astype(np.float32) for f in HPARAM_FIELDS},
        "parents": host(history["parents"]).astype(np.int32),
        "fitness": host(history["fitness"]).astype(np.float32),
    }


def pbt(
    config: PPOConfig,
    space: Mapping,
    population: int,
    ready_every: int,
    num_seeds: int = 1,
    seed: int = 0,
    devices: Sequence[jax.Device] | None = None,
    progress: Progress = None,
    *,
    logger: LoggerArg = None,
    fitness: Fitness | None = None,
    truncation: float = 0.25,
    perturb_factors: tuple[float, float] = (0.8, 1.2),
    resample_probability: float = 0.25,
    init_space: Mapping | None = None,
    max_generations: int | None = None,
    resume: PBTResult | None = None,
    env: Environment | None = None,
    env_params: EnvParams | None = None,
    group_devices: int = 1,
) -> PBTResult:
    """Population-based training of `population` PPO agents, `num_seeds` independent runs.

    Args:
      config: static settings and the base `HParams` (the fields not in `space`).
        The run lasts `config.num_updates` updates per member (the learning-rate
        schedule, if annealed, is over that budget; a copied member keeps its
        parent's schedule position).
      space: the `HParams` fields to evolve: field -> `(low, high)` or `(low,
        high, "log")`, as in `random_search` (ranges only: lists of choices
        cannot be perturbed). Members are drawn from it (log-uniform for "log")
        and perturbed values are clipped to it.
      population: members per run (P >= 2).
      ready_every: updates between two exploit/explore steps (K); it must divide
        `config.num_updates` into >= 2 generations.
      num_seeds: independent PBT runs, vmapped. Run s splits the key
        `seed_keys(seed, num_seeds)[s]` into 3: the draw of the first
        generation's hparams, the member keys (member p gets
        `jax.random.split(that key, population)[p]`, as it would in
        `make_train`) and the exploit/explore steps' key.
      seed: integer seed.
      devices: devices to split the member axis over (default `jax.devices()`);
        the largest count that divides `population` evenly is used.
        With `group_devices` > 1 they form a mesh of members x group_devices,
        each member's env groups (`PPOConfig.data_parallel`) split over a row.
      progress: None/False, True (a tqdm bar) or a hook, as in `make_trainer`;
        one report per update for the whole population.
      logger: a `ppo_jax.loggers.Logger` or a list of them: one curve per member,
        named `seed<s>/member<p>` (run s of `num_seeds`), fed by the same
        callback as `progress`. Members' hyperparameters change at every
        exploit/explore step; the logged `learning_rate` metric follows them,
        the config panel holds the base config.
      fitness: `fitness(metrics) -> float [P]`, metrics a dict of float32 [P, K]
        (one generation, keys as `TrainOutput.metrics`); higher is better, NaN
        worst. Default `mean_return`: each member's mean episode_return over
        the generation.
      truncation: the bottom fraction of members (by fitness) that copy a member
        drawn from the top fraction of the same size; 0 switches copying off.
      perturb_factors: a copied member's evolved fields are multiplied by one of
        these (each with probability 1/2)...
      resample_probability: ...or, with this probability, redrawn from `space`.
      init_space: optional narrower ranges (inside `space`) to draw the first
        generation from, e.g. a poor start that PBT has to leave.
      max_generations: stop after this many generations in this call (the result
        can be saved and resumed); default: run to the end.
      resume: a `PBTResult` of an unfinished run with the same arguments; the
        run continues from its state and the returned result holds both parts,
        equal to an uninterrupted run's.
      env: a gymnax env instance overriding `config.env`.
      env_params: that env's params (default: the env's default params).

    Returns:
      `PBTResult` (metrics [num_seeds, population, updates], hyperparameter
      schedules, lineage, final state).

    Raises:
      ValueError: bad arguments (a space key that is not an `HParams` field, a
        `ready_every` that does not divide the run, a population too small for
        the truncation, a fitness that does not return one value per member,
        ...), before anything is compiled.
    """
    if not isinstance(config, PPOConfig):
        raise ValueError(f"pbt: config must be a PPOConfig, got {type(config).__name__}")
    ranges = parse_space(space)
    init_ranges = parse_init_space(init_space, ranges)
    population, settings = check_settings(population, truncation, perturb_factors,
                                          resample_probability)
    ready_every = check_ready_every(ready_every, config)
    fitness = check_fitness(fitness, population, ready_every)
    num_seeds = check_positive_int(num_seeds, "num_seeds", "pbt")
    seed = check_integer(seed, "seed", "pbt")
    devices = check_devices(devices, "pbt")
    group_devices = check_group_devices(group_devices, config.data_parallel, len(devices), "pbt")
    members = math.gcd(population, len(devices) // group_devices)  # devices for the member axis
    devices = (member_devices(devices, population) if group_devices == 1
               else population_mesh(devices[: members * group_devices], group_devices))
    hook = resolve_progress(progress)
    sink = bind_logger(logger, config, METRIC_NAMES, agents=pbt_agents(config, num_seeds, population))
    total = config.num_updates // ready_every
    done = 0
    if resume is not None:
        check_resume(resume, config=config, space=dict(space), init_space=init_space,
                     population=population, ready_every=ready_every, num_seeds=num_seeds,
                     seed=seed, settings=settings, fitness=fitness)
        done = resume.generations_done
    if max_generations is not None:
        max_generations = check_positive_int(max_generations, "max_generations", "pbt")
    num_generations = min(total - done, max_generations or total)
    plan = PBTPlan(ranges, init_ranges, settings, population, ready_every, num_generations, fitness)
    static_config = dataclasses.replace(config, hparams=HParams())
    if resume is None:
        key_data = jnp.asarray(jax.random.key_data(seed_keys(seed, num_seeds)))
        base = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
        args, fresh = (key_data, base), True
    else:
        args, fresh = (_place_state(resume.state, devices),), False
    try:
        state, history, compiled_now = _run_program(static_config, env, env_params, devices, plan,
                                                    hook, args, fresh, sink)
    finally:
        if sink is not None:
            sink.flush()
    history = _history_to_host(history)
    if resume is not None:
        history = concat_history(resume, history)
    return PBTResult(
        config=config, space=dict(space), init_space=None if init_space is None else dict(init_space),
        population=population, ready_every=ready_every, num_seeds=num_seeds, seed=seed,
        settings=settings, fitness_name=fitness_name(fitness), metrics=history["metrics"],
        hparams=history["hparams"], parents=history["parents"], fitness=history["fitness"],
        state=state, num_compiles=int(compiled_now),
    )


