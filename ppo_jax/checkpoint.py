"""Checkpoints: `save(path, config, state)` / `load(path) -> (config, state)` with orbax.

A checkpoint folder holds the whole `TrainState` (params, optimizer state,
normalization statistics, env states, key, update counter) and the
`PPOConfig` that made it, so a policy or a resumed run can be rebuilt from
the folder alone. The state may be one agent or a population (any leading
batch axes, e.g. [num_seeds]).

Layout: an orbax `CheckpointManager` folder. Each save is a new numbered step
written to a temporary folder and renamed into place only once complete, and
steps older than the `keep` latest (default 1) are deleted only after that; a
crash during a save leaves the previous checkpoint loadable. Inside a step:
`state/` (the arrays, keyed by their path in the `TrainState`, PRNG keys
stored as their raw key data) and `meta/` (JSON: format version, config,
batch shape, update step and any user metadata).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.config.config import PPOConfig
from ppo_jax.core.context import check_agent_fits, make_context
from ppo_jax.core.iteration import init_state
from ppo_jax.core.types import TrainState
from ppo_jax.envs import Environment, EnvParams

FORMAT = "ppo_jax.checkpoint"
FORMAT_VERSION = 1

# Static fields that define the agent's arrays and what they mean: a
# checkpoint only loads into a config that agrees on all of them.
AGENT_FIELDS = ("env", "num_envs", "hidden_sizes", "activation", "network", "conv_channels",
                "normalize_observations")


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, or does not fit the given config."""


def _ocp():
    import orbax.checkpoint as ocp  # imported lazily: orbax is slow to import

    return ocp


def _manager(path: str, create: bool, keep: int = 1):
    ocp = _ocp()
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep if create else None, create=create, enable_async_checkpointing=False
    )
    handlers = {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(os.path.abspath(path), options=options, item_handlers=handlers)


def _path_name(key_path) -> str:
    return jax.tree_util.keystr(key_path, simple=True, separator="/")


def _is_key(x) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _flatten(state: TrainState) -> dict:
    """TrainState -> {"params/params/actor/Dense_0/kernel": array, ...}; keys as key data."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    return {_path_name(p): (jax.random.key_data(x) if _is_key(x) else x) for p, x in leaves}


def abstract_state(config: PPOConfig, batch_shape: tuple = (), env=None, env_params=None) -> TrainState:
    """The shapes and dtypes of a `TrainState` for `config` (leaves ShapeDtypeStruct)."""
    ctx = make_context(config, env, env_params)
    single = jax.eval_shape(lambda key: init_state(ctx, key, config.hparams), jax.random.key(0))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(tuple(batch_shape) + x.shape, x.dtype), single)


def _stored_struct(x: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    """How a leaf is stored: keys as their uint32 key data."""
    if _is_key(x):
        data = jax.eval_shape(jax.random.key_data, x)
        return jax.ShapeDtypeStruct(data.shape, data.dtype)
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def save(path: str | os.PathLike, config: PPOConfig, state: TrainState, *,
         metadata: dict | None = None, keep: int = 1) -> str:
    """Saves `state` (one agent or a population) and `config` to the folder `path`.

    Atomic: the new checkpoint becomes the latest in `path` only once it is
    completely written, and older ones past the `keep` latest are deleted only
    after that. Returns the absolute path.

    Args:
      path: checkpoint folder (created if needed).
      config: the `PPOConfig` the state was trained with.
      state: a `TrainState`, leaves unbatched or with leading batch axes.
      metadata: JSON-serializable extras kept beside the config (see `checkpoint_info`).
      keep: how many of the latest saves the folder keeps (default 1: the latest only);
        `load` reads the latest, `checkpoint_info(path)["steps"]` lists those kept.

    Raises:
      ValueError: before anything is written, when `state` was not trained on
        `config`'s env and network (both envs and the differing arrays are
        named). A state trained on a custom env (`env=`) is saved with that
        env's class name recorded; `load` then asks for `env=`.

    Examples:
      >>> import tempfile, jax, ppo_jax
      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=512)
      >>> agent = ppo_jax.make_trainer(config).init(jax.random.key(0), config.hparams)
      >>> path = ppo_jax.save(tempfile.mkdtemp() + "/ckpt", config, agent)
      >>> loaded_config, loaded = ppo_jax.load(path)
      >>> same = jax.tree.map(lambda a, b: bool((a == b).all()), loaded.params, agent.params)
      >>> loaded_config == config, all(jax.tree.leaves(same))
      (True, True)
    """
    if not isinstance(config, PPOConfig):
        raise TypeError(f"save: config must be a PPOConfig, got {type(config).__name__}")
    if not isinstance(state, TrainState):
        raise TypeError(f"save: state must be a TrainState, got {type(state).__name__}")
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1:
        raise ValueError(f"save: keep must be a positive integer, got {keep!r}")
    if not state.custom_env:  # a custom env's shapes are unknown without its instance
        check_agent_fits(make_context(config), state, "save")
    ocp = _ocp()
    batch_shape = tuple(np.shape(state.update_step))
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        # custom_env: the class name of a user-supplied env the state was trained on.
        "config": {**config.to_dict(), "custom_env": state.env_name if state.custom_env else None},
        "batch_shape": list(batch_shape),
        "update_step": int(np.max(np.asarray(state.update_step))),
        "metadata": metadata or {},
    }
    json.dumps(meta)  # fail before writing anything if metadata is not JSON
    mngr = _manager(path, create=True, keep=int(keep))
    try:
        step = (mngr.latest_step() or 0) + 1
        mngr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_flatten(state)), meta=ocp.args.JsonSave(meta)))
        mngr.wait_until_finished()
    finally:
        mngr.close()
    return os.path.abspath(path)


def _brief(err: Exception, limit: int = 300) -> str:
    """The first line of an error, cut to `limit` characters (tensorstore errors are long)."""
    text = f"{type(err).__name__}: {err}".splitlines()[0]
    return text if len(text) <= limit else text[:limit] + " ..."


def _open(path) -> tuple[Any, int]:
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}: the folder does not exist")
    if not os.path.isdir(path):
        raise CheckpointError(f"no checkpoint at {path!r}: it is a file, not a checkpoint folder")
    mngr = _manager(path, create=False)
    step = mngr.latest_step()
    if step is None:
        mngr.close()
        found = sorted(os.listdir(path))
        raise CheckpointError(
            f"no complete checkpoint in {path!r} (contents: {found or 'empty'}); an interrupted "
            "save leaves only a temporary folder"
        )
    return mngr, step


def _read_meta(mngr, step: int, path) -> dict:
    ocp = _ocp()
    try:
        meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path!r} (step {step}): cannot read its metadata: {_brief(err)}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is not a ppo_jax checkpoint (metadata: {meta!r:.200})")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {meta.get('version')}; this ppo_jax reads "
            f"version {FORMAT_VERSION}"
        )
    return meta


def checkpoint_info(path: str | os.PathLike) -> dict:
    """The metadata of the latest checkpoint in `path`, without loading arrays.

    Returns a dict: `config` (a PPOConfig), `batch_shape` (tuple: () for one
    agent, (num_seeds,) for a population), `update_step` (int), `metadata`
    (the dict given to `save`), `step` (the orbax step number), `steps` (the
    step numbers of every checkpoint the folder keeps, oldest first; see
    `save`'s `keep`), `custom_env` (the class name of the user-supplied env it
    was trained on, or None).
    """
    path = os.fspath(path)
    mngr, step = _open(path)
    try:
        meta = _read_meta(mngr, step, path)
        steps = sorted(int(s) for s in mngr.all_steps())
    finally:
        mngr.close()
    return {
        "config": _config_from(meta, path),
        "batch_shape": tuple(meta["batch_shape"]),
        "update_step": meta["update_step"],
        "metadata": meta.get("metadata", {}),
        "step": step,
        "steps": steps,
        "custom_env": _custom_env(meta),
    }


def _custom_env(meta: dict) -> str | None:
    """The class name of the custom env a checkpoint was trained on (None: config.env;
    checkpoints written before this was recorded have no entry)."""
    return meta["config"].get("custom_env")


def _config_from(meta: dict, path) -> PPOConfig:
    data = {k: v for k, v in meta["config"].items() if k != "custom_env"}
    try:
        return PPOConfig.from_dict(data)
    except Exception as err:
        raise CheckpointError(f"checkpoint {path!r}: its stored config is not valid: {err}") from err


def _check_agent_fields(stored: PPOConfig, given: PPOConfig, path) -> None:
    diffs = [
        f"{name}: checkpoint {getattr(stored, name)!r}, given {getattr(given, name)!r}"
        for name in AGENT_FIELDS
        if getattr(stored, name) != getattr(given, name)
        and not (name == "conv_channels" and stored.network == given.network == "mlp")  # unused
    ]
    if diffs:
        raise CheckpointError(
            f"checkpoint {path!r} does not match the given config: " + "; ".join(diffs)
        )


def _check_shapes(stored_meta: dict, expected: dict, path) -> None:
    """Names every array whose shape or dtype differs, and every missing/extra one."""
    problems = []
    for name, want in expected.items():
        have = stored_meta.get(name)
        if have is None:
            problems.append(f"{name}: missing from the checkpoint")
        elif tuple(have.shape) != tuple(want.shape) or np.dtype(have.dtype) != np.dtype(want.dtype):
            problems.append(
                f"{name}: checkpoint {np.dtype(have.dtype).name}{list(have.shape)}, "
                f"expected {np.dtype(want.dtype).name}{list(want.shape)}"
            )
    problems += [f"{name}: not expected by the config" for name in stored_meta if name not in expected]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointError(f"checkpoint {path!r} does not fit the config's TrainState: {shown}")


def load(path: str | os.PathLike, config: PPOConfig | None = None, *, env: Environment | None = None,
         env_params: EnvParams | None = None) -> tuple[PPOConfig, TrainState]:
    """Loads the latest checkpoint in `path`: returns (the saved config, the state).

    Args:
      path: a folder written by `save`.
      config: optional; if given, the checkpoint must match its env, num_envs,
        hidden_sizes, activation, network, conv_channels and
        normalize_observations (other fields, e.g.
        total_timesteps or hyperparameters, may differ).
      env: the gymnax env instance the state was trained on, when it was not
        `config.env` (custom envs). A checkpoint of a custom-env agent records
        the env's class name and cannot load without `env=`.
      env_params: that env's params (default: the env's default params).

    Raises:
      CheckpointError: the folder is missing, holds no complete checkpoint, is
        unreadable or corrupt, or does not match `config` (the message names
        each field or array that differs).
    """
    path = os.fspath(path)
    mngr, step = _open(path)
    try:
        meta = _read_meta(mngr, step, path)
        stored_config = _config_from(meta, path)
        custom = _custom_env(meta)
        if custom is not None and env is None:
            raise CheckpointError(
                f"checkpoint {path!r}: this agent was trained on a custom env {custom}; pass "
                f"env={custom}(...) (and env_params=..., if it was trained with non-default ones)"
            )
        if config is not None:
            _check_agent_fields(stored_config, config, path)
        target = abstract_state(config or stored_config, tuple(meta["batch_shape"]), env, env_params)
        try:
            stored_meta = mngr.item_metadata(step)["state"].tree
        except Exception as err:
            raise CheckpointError(
                f"checkpoint {path!r} (step {step}) is corrupt or unreadable: {_brief(err)}") from err
        if not any(name.startswith("best/") for name in stored_meta):
            # Saved without evaluation during training (or before it existed): no best
            # policy to restore; a trainer that evaluates starts tracking it afresh.
            target = target.replace(best=None)
        elif target.best is None:  # saved by a run that evaluated: keep its best policy
            evaluating = dataclasses.replace(config or stored_config, eval_every=1)
            target = abstract_state(evaluating, tuple(meta["batch_shape"]), env, env_params)
        leaves, treedef = jax.tree_util.tree_flatten_with_path(target)
        expected = {_path_name(p): _stored_struct(x) for p, x in leaves}
        _check_shapes(stored_meta, expected, path)
        state = _restore_arrays(mngr, step, expected, path)
    finally:
        mngr.close()
    values = [
        jax.random.wrap_key_data(state[_path_name(p)]) if _is_key(x) else state[_path_name(p)]
        for p, x in leaves
    ]
    return stored_config, jax.tree_util.tree_unflatten(treedef, values)


def _restore_arrays(mngr, step: int, expected: dict, path) -> dict:
    ocp = _ocp()
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=device) for k, v in expected.items()}
    try:
        restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path!r} (step {step}) is corrupt or unreadable: {_brief(err)}") from err
    return restored["state"]

