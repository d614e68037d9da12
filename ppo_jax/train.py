"""make_trainer / make_train / train_seeds: all of training as one pure function."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax._moved import moved_names
from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HParams, validate_hparams
from ppo_jax.core.context import AgentContext, make_context
from ppo_jax.core.iteration import METRIC_NAMES, init_best, init_state, ppo_iteration
from ppo_jax.core.placement import GROUPS_AXIS, GroupPlacement
from ppo_jax.core.types import TrainState
from ppo_jax.envs import Environment, EnvParams
from ppo_jax.outputs import TrainOutput
from ppo_jax.parallel.compile import compile_population
from ppo_jax.parallel.mesh import (
    POPULATION_AXIS,
    agent_placement,
    auto_group_devices,
    check_devices,
    check_group_devices,
    mesh_member_sharding,
    population_mesh,
    population_sharding,
)
from ppo_jax.tracking.agents import seed_agents
from ppo_jax.tracking.loggers import LoggerArg, bind_logger
from ppo_jax.tracking.progress import Progress, resolve_progress, with_progress
from ppo_jax.util.checks import check_integer, check_positive_int


class Trainer(NamedTuple):
    """Pure pieces of training in chunks.

    init(key, hparams) -> TrainState
    run(state, hparams, num_updates, agent_id=None) -> (TrainState, metrics: dict of [num_updates])

    `agent_id` (int32 [], optional) labels the agent's rows for a logger (default:
    its position in the vmapped population). `run` is already jitted, with `num_updates` static: call it directly (one
    compile per distinct count), or inside your own jit/vmap with the count a
    Python int (`jax.jit(trainer.run, static_argnums=2)`).
    """

    init: Callable[..., TrainState]
    run: Callable[..., tuple[TrainState, dict[str, jax.Array]]]


def agent_row(state: TrainState, metrics: dict, agent_id: jax.Array | None) -> jax.Array:
    """One agent's row for loggers, float32 [2 + len(METRIC_NAMES)]:
    [agent id (-1: its position in the population), update, *metrics in METRIC_NAMES order]."""
    ident = jnp.asarray(-1.0 if agent_id is None else agent_id, jnp.float32)
    values = [metrics[name] for name in METRIC_NAMES]
    return jnp.stack([ident, state.update_step.astype(jnp.float32)]
                     + [jnp.asarray(v, jnp.float32) for v in values])


def run_updates(state: TrainState, hparams: HParams, num_updates: int, agent_id=None, *,
                ctx: AgentContext, hook, sink) -> tuple[TrainState, dict]:
    """`num_updates` PPO iterations in one scan: the jitted core of `Trainer.run`."""
    if ctx.config.eval_every and state.best is None:  # a state from a run without evaluation
        state = state.replace(best=init_best(state.params, state.obs_stats))
    body = functools.partial(ppo_iteration, ctx=ctx, hparams=hparams)
    if hook is not None or sink is not None:
        body = with_progress(body, hook, ctx.config.num_updates, sink,
                             functools.partial(agent_row, agent_id=agent_id))
    return jax.lax.scan(body, state, None, length=num_updates)


def check_num_updates(num_updates, config: PPOConfig) -> int:
    """`num_updates` as a Python int; clear errors for a traced count or one past the schedule."""
    if isinstance(num_updates, jax.core.Tracer):
        raise TypeError(
            "Trainer.run: num_updates is traced, but it fixes the length of the update loop, so it "
            "must be a Python int: call trainer.run(state, hparams, n) directly (it is already "
            "jitted with num_updates static), or jit it with jax.jit(trainer.run, static_argnums=2) "
            "/ static_argnames='num_updates'"
        )
    num_updates = check_integer(num_updates, "num_updates", "Trainer.run")
    if num_updates < 0:
        raise ValueError(f"Trainer.run: num_updates must be >= 0, got {num_updates}")
    if config.anneal_lr and num_updates > config.num_updates:
        raise ValueError(_past_schedule_message(config, 0, num_updates))
    return num_updates


def check_schedule(state: TrainState, num_updates: int, config: PPOConfig) -> None:
    """With `anneal_lr`, refuses updates past config.num_updates (where the rate is 0).

    Checked when the state's update count is concrete (a call outside jit/vmap).
    """
    if not config.anneal_lr or isinstance(state.update_step, jax.core.Tracer):
        return
    done = int(np.max(np.asarray(state.update_step)))
    if done + num_updates > config.num_updates:
        raise ValueError(_past_schedule_message(config, done, num_updates))


def _past_schedule_message(config: PPOConfig, done: int, num_updates: int) -> str:
    needed = (done + num_updates) * config.batch_size
    return (
        f"Trainer.run: {num_updates} updates from update {done} pass the end of the learning-rate "
        f"schedule (config.num_updates = {config.num_updates} for total_timesteps = "
        f"{config.total_timesteps}), after which the annealed rate is 0. To extend the run, make "
        f"a trainer for the larger budget: ppo_jax.make_trainer(config.replace(total_timesteps="
        f"{needed})); the rate then anneals over the new total (lr * (1 - update / new "
        f"num_updates), see learning_rate_at). Or set anneal_lr=False for a constant rate."
    )


def make_trainer(config: PPOConfig, env: Environment | None = None, env_params: EnvParams | None = None,
                 progress: Progress = None, logger: LoggerArg = None, *,
                 devices: Sequence[jax.Device] | None = None) -> Trainer:
    """`Trainer` for `config`; `env` (a gymnax Environment) overrides `config.env`.

    Running N updates and then M more equals running N + M at once: the
    learning-rate schedule, normalizers and all keys live in the state.
    `run` is jitted with `num_updates` static. With `anneal_lr`, a run may not
    go past `config.num_updates` (the rate would be 0 there): extend a run by
    continuing its state with `make_trainer(config.replace(total_timesteps=
    larger))` (see `learning_rate_at` for the schedule that then applies).
    Concrete `hparams` are checked (`validate_hparams`) before compiling.
    `progress`: None/False (off, no callback compiled), True (a tqdm bar) or a
    hook taking a `ppo_jax.ProgressReport`, called once per update for the
    whole vmapped population (see `ppo_jax.tracking.progress`).
    `logger`: None, a `ppo_jax.loggers.Logger` (or a list of them) or one
    already bound to named agents (`bind_logger`); it receives every agent's
    metrics through the progress bar's callback (one host call per reported
    update). `run(..., agent_id=i)` labels agent i's rows (default: the
    agent's position in the vmapped population).
    `devices`: with `config.data_parallel` > 1, the devices the agent's env groups
    are split over (their number must divide data_parallel; None: no placement,
    the program runs where it is called). The results are those of the same
    config on one device, up to float32 rounding.
    """
    return _make_trainer(config, env, env_params, progress, logger,
                         agent_placement(devices, config.data_parallel, "make_trainer"))


def place_state(state: TrainState, placement: GroupPlacement | None) -> TrainState:
    """A concrete state (a loaded checkpoint, a state from other devices) put on the
    placement's devices: its env leaves split over the groups, the rest replicated.
    Unchanged without a placement or inside a trace (the constraints place it there)."""
    if placement is None or isinstance(state.update_step, jax.core.Tracer):
        return state
    mesh = placement.mesh
    state = jax.device_put(state, NamedSharding(mesh, PartitionSpec()))
    envs = functools.partial(jax.device_put, device=NamedSharding(mesh, PartitionSpec(GROUPS_AXIS)))
    return state.replace(env_state=envs(state.env_state), obs=envs(state.obs), memory=envs(state.memory),
                         reward_scaler=state.reward_scaler.replace(
                             discounted_return=envs(state.reward_scaler.discounted_return)))


def _make_trainer(config: PPOConfig, env, env_params, progress: Progress, logger: LoggerArg,
                  placement: GroupPlacement | None) -> Trainer:
    """`make_trainer` with the groups' placement given as a `GroupPlacement` (or None)."""
    ctx = make_context(config, env, env_params, placement)
    sink = bind_logger(logger, config, METRIC_NAMES)
    scan = jax.jit(functools.partial(run_updates, ctx=ctx, hook=resolve_progress(progress), sink=sink),
                   static_argnames="num_updates")

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams if hparams is None else hparams
        validate_hparams(hparams)
        return init_state(ctx, key, hparams)

    def run(state: TrainState, hparams: HParams | None = None, num_updates: int | None = None,
            agent_id: jax.Array | None = None):
        hparams = config.hparams if hparams is None else hparams
        validate_hparams(hparams)
        num_updates = check_num_updates(config.num_updates if num_updates is None else num_updates,
                                        config)
        check_schedule(state, num_updates, config)
        # The state records the env it is trained on (a static field).
        state = state.replace(env_name=ctx.adapter.env_name, custom_env=ctx.adapter.custom)
        state = place_state(state, placement)
        return scan(state, hparams, num_updates=num_updates, agent_id=agent_id)

    return Trainer(init, run)


def make_train(config: PPOConfig, env: Environment | None = None, env_params: EnvParams | None = None,
               progress: Progress = None, logger: LoggerArg = None, *,
               devices: Sequence[jax.Device] | None = None) -> Callable[..., TrainOutput]:
    """train(key, hparams=config.hparams) -> TrainOutput, pure and jit/vmap-able.

    `progress`, `logger` and `devices` (where the env groups of `config.data_parallel`
    run) as in `make_trainer`.

    Examples:
      A tiny budget: 4 updates of 4 envs x 128 steps:

      >>> import jax, ppo_jax
      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=2048)
      >>> train = ppo_jax.make_train(config)
      >>> out = jax.jit(train)(jax.random.key(0), config.hparams)
      >>> out.metrics["episode_return"].shape   # [num_updates]
      (4,)

      One agent's 8 env groups over 8 devices where there are 8 (elsewhere the
      same maths on one device, up to float32 rounding):

      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", num_envs=8, num_steps=64,
      ...                            data_parallel=8, total_timesteps=1024)
      >>> devices = jax.devices()[:8] if len(jax.devices()) >= 8 else jax.devices()[:1]
      >>> out = jax.jit(ppo_jax.make_train(config, devices=devices))(jax.random.key(0))
      >>> out.metrics["episode_return"].shape   # 1024 / (8 x 64) updates
      (2,)
    """
    trainer = make_trainer(config, env, env_params, progress, logger, devices=devices)

    def train(key: jax.Array, hparams: HParams | None = None) -> TrainOutput:
        hparams = config.hparams if hparams is None else hparams
        state, metrics = trainer.run(trainer.init(key, hparams), hparams, config.num_updates)
        return TrainOutput(state=state, metrics=metrics)

    return train


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """Seed i of a population gets jax.random.split(jax.random.key(seed), num_seeds)[i]."""
    return jax.random.split(jax.random.key(seed), num_seeds)


class Population(NamedTuple):
    """Pure, jitted pieces of training P agents of one static config at once.

    init(key_data [P, k], hparams) -> TrainState, leaves [P, ...]
    run(states, hparams, num_updates) -> (TrainState [P, ...], metrics: dict of [P, num_updates])
    train(key_data, hparams) -> (TrainState [P, ...] or None, metrics: dict of [P, config.num_updates])

    `key_data` is `jax.random.key_data` of the members' keys (plain uint32, so the same
    host array can be placed on every process). `hparams` is one `HParams` for every
    member (leaves scalars) or one per member (leaves [P]). `train` is `run(init(...))`
    in one program, and returns no state when the population was built with
    `keep_state=False` (a sweep keeps only metrics).
    """

    init: Callable[..., TrainState]
    run: Callable[..., tuple[TrainState, dict[str, jax.Array]]]
    train: Callable[..., tuple[TrainState | None, dict[str, jax.Array]]]


def make_population(config: PPOConfig, env: Environment | None = None, env_params: EnvParams | None = None,
                    progress: Progress = None, logger: LoggerArg = None, *, shared_hparams: bool = True,
                    devices: tuple | Mesh | None = None, keep_state: bool = True) -> Population:
    """The one builder of population programs (`train_seeds`, `sweep`, `pbt`, the CLI).

    Every member is `make_trainer(config, ...)`'s agent, vmapped. With `devices`,
    the member axis is split over a 1-D mesh of them (`shard_map`: each device
    vmaps its P / len(devices) members; P must be a multiple of len(devices)) and
    each member's logger rows carry its global index; without, the program runs
    on the default device and rows carry the member's position. With a 2-D `Mesh`
    of axes (population, groups) (`parallel.mesh.population_mesh`), members are
    split over its first axis and each member's env groups (`config.data_parallel`)
    over its second (`jit` with shardings: XLA keeps each group local and inserts
    the all-reduces; P must be a multiple of the first axis).

    Args:
      config: as in `make_trainer`.
      env: as in `make_trainer`.
      env_params: as in `make_trainer`.
      progress: as in `make_trainer`.
      logger: as in `make_trainer`.
      shared_hparams: one HParams for all members (True) or per-member leaves [P].
      devices: the devices to split members over, a (members x groups) mesh, or None.
      keep_state: whether `train` returns the final states.
    """
    mesh = devices if isinstance(devices, Mesh) else None
    placement = GroupPlacement(mesh) if mesh is not None else None
    trainer = _make_trainer(config, env, env_params, progress, logger, placement)
    hp_axis = None if shared_hparams else 0
    # On a 2-D mesh JAX adds the member axis to the groups' sharding constraints.
    vmap = functools.partial(jax.vmap, spmd_axis_name=POPULATION_AXIS) if mesh is not None else jax.vmap

    def init(key_data: jax.Array, hparams: HParams) -> TrainState:
        keys = jax.random.wrap_key_data(key_data)
        return vmap(trainer.init, in_axes=(0, hp_axis))(keys, hparams)

    def run(states: TrainState, hparams: HParams, num_updates: int, member_ids=None):
        member = lambda s, h, i: trainer.run(s, h, num_updates, agent_id=i)
        return vmap(member, in_axes=(0, hp_axis, None if member_ids is None else 0))(
            states, hparams, member_ids)

    def train(key_data: jax.Array, hparams: HParams, member_ids=None):
        # init and run under one vmap, not run(init(...)): leaves that every member shares
        # at the start (update_step, kl_coef, ...) then stay unbatched where XLA can keep
        # them so, the program `jax.vmap(make_train(config))` has always been.
        def member(key, h, i):
            state = trainer.init(jax.random.wrap_key_data(key), h)
            return trainer.run(state, h, config.num_updates, agent_id=i)

        states, metrics = vmap(member, in_axes=(0, hp_axis, None if member_ids is None else 0))(
            key_data, hparams, member_ids)
        return (states if keep_state else None), metrics

    if devices is None:
        return Population(jax.jit(init), jax.jit(run, static_argnums=2), jax.jit(train))
    if mesh is not None:
        return _mesh_population(init, run, train, mesh, shared_hparams)
    return _sharded_population(init, run, train, devices, shared_hparams)


def _to_mesh(x: jax.Array, sharding: NamedSharding) -> jax.Array:
    """`x` placed with `sharding`. Over several processes it goes through the host (the same
    values on every process), keys as their key data."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        data = jax.device_put(np.asarray(jax.random.key_data(x)), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    return jax.device_put(np.asarray(x), sharding)


def _mesh_population(init: Callable, run: Callable, train: Callable, mesh: Mesh,
                     shared_hparams: bool) -> Population:
    """`Population` on a (members x groups) mesh: `jit` with the member axis of the keys and
    hparams split over the mesh's first axis; the groups' constraints inside place the rest."""
    members = mesh_member_sharding(mesh)
    hp = NamedSharding(mesh, PartitionSpec()) if shared_hparams else members
    jitted_run = jax.jit(run, static_argnums=2)

    def placed_run(states, hparams, num_updates):
        # States from elsewhere (a loaded checkpoint, on one device) are put on the mesh
        # member-wise first; the constraints inside then split their env leaves over the
        # groups. States already on the mesh, and traced ones, pass unchanged.
        on_mesh = lambda x: (not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer) or (
            isinstance(x.sharding, NamedSharding) and x.sharding.mesh == mesh))
        states = jax.tree.map(lambda x: x if on_mesh(x) else _to_mesh(x, members), states)
        return jitted_run(states, hparams, num_updates)

    return Population(jax.jit(init, in_shardings=(members, hp)), placed_run,
                      jax.jit(train, in_shardings=(members, hp)))


def _sharded_population(init: Callable, run: Callable, train: Callable, devices: tuple,
                        shared_hparams: bool) -> Population:
    """`Population` whose member axis is split over a 1-D mesh of `devices` (shard_map)."""
    members = population_sharding(devices)
    spec = members.spec
    hp_spec = PartitionSpec() if shared_hparams else spec

    def global_ids(local: int) -> jax.Array:  # this device's members' indices in the population
        return jax.lax.axis_index(POPULATION_AXIS) * local + jnp.arange(local)

    # check_vma=False: members never communicate, and the core's scan carries start
    # from constants that shard_map's varying-axis check would reject.
    shard = functools.partial(jax.shard_map, mesh=members.mesh, out_specs=spec, check_vma=False)
    sharded_init = shard(init, in_specs=(spec, hp_spec))
    sharded_train = shard(lambda k, h: train(k, h, global_ids(k.shape[0])), in_specs=(spec, hp_spec))

    def sharded_run(states, hparams, num_updates):
        local_run = lambda s, h: run(s, h, num_updates, global_ids(s.update_step.shape[0]))
        return shard(local_run, in_specs=(spec, hp_spec))(states, hparams)

    return Population(jax.jit(sharded_init), jax.jit(sharded_run, static_argnums=2), jax.jit(sharded_train))


def population_program(config: PPOConfig, env, env_params, progress, sink, shared_hparams: bool,
                       devices: tuple | None, keep_state: bool) -> Callable:
    """`make_population(...).train`, for `compile_population` (whose cache keys on this function)."""
    return make_population(config, env, env_params, progress, sink, shared_hparams=shared_hparams,
                           devices=devices, keep_state=keep_state).train


def population_layout(devices: Sequence[jax.Device] | None, group_devices: int | None, num_members: int,
                      data_parallel: int,
                      where: str) -> tuple | Mesh | None:
    """Where a population of `num_members` runs, for `make_population(devices=...)`: None
    (no devices given), a device tuple (members only), or a (members x groups) mesh.

    Members take as many devices as divide the population; each member's groups take
    `group_devices` (default `auto_group_devices`). Bad input raises a ValueError naming
    the argument, before anything compiles.
    """
    if devices is None:
        if group_devices is not None:
            raise ValueError(f"{where}: group_devices = {group_devices!r} needs devices (the devices "
                             "to split over, e.g. devices=jax.devices())")
        return None
    devices = check_devices(devices, where)
    if group_devices is None:
        group_devices = auto_group_devices(num_members, data_parallel, len(devices))
    group_devices = check_group_devices(group_devices, data_parallel, len(devices), where)
    members = math.gcd(num_members, len(devices) // group_devices)
    devices = devices[: members * group_devices]
    return devices if group_devices == 1 else population_mesh(devices, group_devices)


def train_seeds(
    config: PPOConfig,
    num_seeds: int,
    seed: int = 0,
    hparams: HParams | None = None,
    env: Environment | None = None,
    env_params: EnvParams | None = None,
    progress: Progress = None,
    logger: LoggerArg = None,
    devices: Sequence[jax.Device] | None = None,
    group_devices: int | None = None,
) -> TrainOutput:
    """Trains `num_seeds` agents vmapped in one compile; leaves get a leading [num_seeds] axis.

    `devices` (default None: the default device) spreads the population over a
    mesh of members x groups: seeds over as many devices as divide num_seeds, and
    each seed's env groups (`config.data_parallel`) over `group_devices` devices
    (default: as many of the remaining devices as divide data_parallel). The
    results equal the one-device run's up to float32 rounding.

    `logger` (a `ppo_jax.loggers.Logger` or a list of them) gets one curve per
    seed, named `seed0`, `seed1`, ..., with the run's hyperparameters; loggers
    with `population="reduce"` get one curve of the mean, min and max over seeds.
    A call with a logger compiles once per logger (the callback is part of the program).

    Calling it again with the same static config (any hparams) does not recompile.
    Seed i gets the key `jax.random.split(jax.random.key(seed), num_seeds)[i]`.

    Examples:
      A tiny budget: 3 seeds of 2 updates:

      >>> import ppo_jax
      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=1024, hidden_sizes=(16,))
      >>> outs = ppo_jax.train_seeds(config, num_seeds=3, seed=0)
      >>> outs.metrics["episode_return"].shape, outs.final_return().shape   # [num_seeds, num_updates]
      ((3, 2), (3,))
      >>> outs.to_dataframe()[["seed", "update", "timesteps"]].head(2)       # update counts from 1
         seed  update  timesteps
      0     0       1      512.0
      1     0       2     1024.0
    """
    num_seeds = check_positive_int(num_seeds, "num_seeds", "train_seeds")
    seed = check_integer(seed, "seed", "train_seeds")
    layout = population_layout(devices, group_devices, num_seeds, config.data_parallel, "train_seeds")
    hparams = config.hparams if hparams is None else hparams
    validate_hparams(hparams)
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)
    static_config = dataclasses.replace(config, hparams=HParams())
    key_data = jax.random.key_data(seed_keys(seed, num_seeds))
    run_config = dataclasses.replace(config, hparams=hparams)  # the hparams that really ran
    sink = bind_logger(logger, run_config, METRIC_NAMES, agents=seed_agents(run_config, num_seeds))
    program, _ = compile_population(
        population_program, (static_config, env, env_params, progress, sink, True, layout, True),
        (key_data, hparams))
    out = TrainOutput(*program(key_data, hparams))
    if sink is not None:
        jax.block_until_ready(out)
        sink.flush()
    return out


# Names that moved out of this module, still served with a DeprecationWarning.
__getattr__ = moved_names(__name__, {
    'EVAL_KEY_TAG': 'ppo_jax.core.iteration',
    'KL_COEF_MAX': 'ppo_jax.core.iteration',
    'KL_COEF_MIN': 'ppo_jax.core.iteration',
    'METRIC_NAMES': 'ppo_jax.core.iteration',
    'adapt_kl_coef': 'ppo_jax.core.iteration',
    'batch_apply_fn': 'ppo_jax.core.iteration',
    'episode_metrics': 'ppo_jax.core.iteration',
    'eval_key': 'ppo_jax.core.iteration',
    'evaluate_if_due': 'ppo_jax.core.iteration',
    'evaluation': 'ppo_jax.core.iteration',
    'explained_variance': 'ppo_jax.core.iteration',
    'init_best': 'ppo_jax.core.iteration',
    'init_memory': 'ppo_jax.core.iteration',
    'init_state': 'ppo_jax.core.iteration',
    'is_diverged': 'ppo_jax.core.iteration',
    'learning_rate_at': 'ppo_jax.core.iteration',
    'mean_batch_kl': 'ppo_jax.core.iteration',
    'next_state_values': 'ppo_jax.core.iteration',
    'ppo_iteration': 'ppo_jax.core.iteration',
    'recurrent_value': 'ppo_jax.core.iteration',
    'reshaped_batch': 'ppo_jax.core.iteration',
    'to_batch': 'ppo_jax.core.iteration',
    'to_sequences': 'ppo_jax.core.iteration',
    'track_best': 'ppo_jax.core.iteration',
    'with_evaluation': 'ppo_jax.core.iteration',
})
