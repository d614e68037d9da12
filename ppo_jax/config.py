"""Static configuration (`PPOConfig`), traced hyperparameters (`HParams`), presets.

`PPOConfig` holds everything that fixes shapes or program structure: changing
it means a new compile. `HParams` holds the floats that only enter the
computation as values: it is a pytree, so a grid over any of its fields is one
vmapped computation and one compile.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import warnings
from typing import Any, Union

import gymnax
import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.networks import BUILTIN_NETWORKS, is_recurrent_network, network_names
from ppo_jax.validation import check_bool, check_positive_int, is_integer, is_real

NETWORKS = BUILTIN_NETWORKS  # the built-in names (scripts/train.py offers them)

OBJECTIVES = ("clip", "none", "kl_penalty", "adaptive_kl")
ACTIVATIONS = ("tanh", "relu", "gelu", "silu", "elu")

# Envs that gymnax registers but that cannot be built without a download.
_NEEDS_DOWNLOAD = ("MNISTBandit-bsuite",)


HParamValue = Union[float, jax.Array, np.ndarray]
"""A hyperparameter: a Python or numpy float (or int), or an array (a batch of values);
a tracer inside jit/vmap."""


@dataclasses.dataclass(frozen=True)
class HParams:
    """Traced hyperparameters: every field may be a scalar or a batched array.

    A pytree (its fields are the leaves), so a grid over any field is one
    vmapped computation. Built with concrete values (`HParams(gamma=5.0)`,
    `.replace(...)`), it is checked at once by `validate_hparams`, the check
    `PPOConfig` uses: a string, a bool or an out-of-range value raises a
    ValueError naming the field and its valid range. Tracers are not checked
    (their values are checked where they come from), and neither is an
    `HParams` with a None field, which is a `jax.vmap` `in_axes` spec rather
    than hyperparameters. JAX rebuilding the pytree (`jax.tree.map`, jit,
    vmap, grad) skips the check; `train`, `Trainer.init` and `Trainer.run`
    check concrete values again before compiling.

    Attributes:
      learning_rate: Adam step size (start value when `anneal_lr`).
      gamma: discount factor, in [0, 1].
      gae_lambda: GAE lambda, in [0, 1].
      clip_eps: PPO clip range epsilon (policy ratio and, if enabled, value).
      ent_coef: entropy bonus coefficient.
      vf_coef: value loss coefficient.
      max_grad_norm: global-norm gradient clipping threshold.
      kl_coef: KL penalty beta (start value for `"adaptive_kl"`).
      kl_target: d_targ of the adaptive KL rule.
      dual_clip_coef: c of dual-clip PPO (> 1).
      early_stop_kl: approximate KL past which the rest of an update is skipped.
    """

    learning_rate: HParamValue = 2.5e-4
    gamma: HParamValue = 0.99
    gae_lambda: HParamValue = 0.95
    clip_eps: HParamValue = 0.2
    ent_coef: HParamValue = 0.01
    vf_coef: HParamValue = 0.5
    max_grad_norm: HParamValue = 0.5
    kl_coef: HParamValue = 1.0
    kl_target: HParamValue = 0.01
    dual_clip_coef: HParamValue = 3.0
    early_stop_kl: HParamValue = 0.02

    def __post_init__(self):
        if any(getattr(self, name) is None for name in HPARAM_FIELDS):
            return  # an in_axes spec such as HParams(learning_rate=0, gamma=None, ...)
        validate_hparams(self)

    def replace(self, **changes: Any) -> "HParams":
        """A copy with some fields changed (checked like a new `HParams`)."""
        return dataclasses.replace(self, **changes)


HPARAM_FIELDS = tuple(f.name for f in dataclasses.fields(HParams))


def _flatten_hparams(hparams: HParams):
    return [(jax.tree_util.GetAttrKey(name), getattr(hparams, name)) for name in HPARAM_FIELDS], None


def _unflatten_hparams(_, leaves) -> HParams:
    """Rebuilds without __init__: JAX fills pytrees with tracers, placeholders,
    gradients or axis numbers that are not hyperparameter values."""
    hparams = object.__new__(HParams)
    for name, leaf in zip(HPARAM_FIELDS, leaves):
        object.__setattr__(hparams, name, leaf)
    return hparams


jax.tree_util.register_pytree_with_keys(HParams, _flatten_hparams, _unflatten_hparams)

# (lower, upper, lower inclusive, upper inclusive); None = unbounded.
_HPARAM_BOUNDS = {
    "learning_rate": (0.0, None, False, True),
    "gamma": (0.0, 1.0, True, True),
    "gae_lambda": (0.0, 1.0, True, True),
    "clip_eps": (0.0, None, False, True),
    "ent_coef": (0.0, None, True, True),
    "vf_coef": (0.0, None, True, True),
    "max_grad_norm": (0.0, None, False, True),
    "kl_coef": (0.0, None, True, True),
    "kl_target": (0.0, None, False, True),
    "dual_clip_coef": (1.0, None, False, True),
    "early_stop_kl": (0.0, None, False, True),
}


def _describe_bounds(lo, hi, lo_inc, hi_inc) -> str:
    left = "[" if lo_inc else "("
    right = "]" if hi_inc else ")"
    return f"{left}{lo}, {'inf' if hi is None else hi}{right}"


def _concrete_numbers(name: str, value: Any) -> np.ndarray | None:
    """`value` as a float64 array; None when it has no value to check before
    tracing (a tracer, an array spread over other processes, a placeholder).

    Raises ValueError for what is concrete but not a number: strings, bools
    (True is not a learning rate), lists, arrays of another dtype.
    """
    if isinstance(value, (str, bytes, bool, np.bool_)) or type(value) in (list, tuple):
        hint = " (a batch of values is an array: jnp.asarray([...]))" if isinstance(
            value, (list, tuple)) else ""
        raise ValueError(
            f"HParams.{name} must be a number, got {value!r} ({type(value).__name__}){hint}")
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return None
    if not (is_real(value) or isinstance(value, (np.ndarray, np.generic, jax.Array))):
        return None
    arr = np.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.integer) or jnp.issubdtype(arr.dtype, jnp.floating)):
        raise ValueError(f"HParams.{name} must be a number, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64)


def validate_hparams(hparams: HParams) -> None:
    """Raises ValueError naming the first field whose value is not a number in range.

    The one check of hyperparameter values: `HParams` construction,
    `PPOConfig`, `train`, `Trainer.init`/`run` and `train_seeds` all call it.
    Works on scalars and on batched (grid) values; every element is checked.
    Traced values (inside jit or vmap) cannot be checked and are skipped.
    """
    if not isinstance(hparams, HParams):
        raise TypeError(f"hparams must be a ppo_jax.HParams, got {type(hparams).__name__}")
    for name, (lo, hi, lo_inc, hi_inc) in _HPARAM_BOUNDS.items():
        arr = _concrete_numbers(name, getattr(hparams, name))
        if arr is None:
            continue
        ok = np.isfinite(arr)
        ok &= (arr >= lo) if lo_inc else (arr > lo)
        if hi is not None:
            ok &= (arr <= hi) if hi_inc else (arr < hi)
        if not np.all(ok):
            bad = arr[~ok] if arr.ndim else arr
            raise ValueError(
                f"HParams.{name} must be in {_describe_bounds(lo, hi, lo_inc, hi_inc)}, "
                f"got {float(np.ravel(bad)[0])!r}"
            )


def available_envs(suites: bool = False) -> list[str]:
    """The gymnax env ids `PPOConfig.env` accepts (and ppo_jax's masked variants of
    them, such as `MaskedCartPole-v1`); with `suites`, also the
    `<suite>/<name>` ids of every installed suite (`ppo_jax.suites`)."""
    from ppo_jax.envs import MASKED_ENVS

    ids = [e for e in gymnax.registered_envs if e not in _NEEDS_DOWNLOAD] + list(MASKED_ENVS)
    if suites:
        from ppo_jax.suites import suite_env_ids

        ids += suite_env_ids()
    return ids


def _options_tuple(options: Any) -> tuple:
    """env_options as a sorted tuple of (key, value) pairs (hashable, so a static field)."""
    if isinstance(options, dict):
        options = tuple(options.items())
    if not isinstance(options, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in options):
        raise ValueError(f"PPOConfig.env_options must be a dict of option name -> value, got {options!r}")
    return tuple(sorted(options))


def _check_env(env: Any, options: tuple) -> None:
    if isinstance(env, str) and "/" in env:
        from ppo_jax.suites import check_suite_env

        check_suite_env(env, dict(options))
        return
    if not isinstance(env, str) or env not in available_envs():
        from ppo_jax.suites import SUITES

        raise ValueError(
            f"PPOConfig.env {env!r} is not a gymnax env id or a <suite>/<name> id (suites: "
            f"{', '.join(SUITES)}); valid gymnax ids: {', '.join(available_envs())}"
        )
    if options:
        raise ValueError(f"PPOConfig.env_options {dict(options)!r}: gymnax envs take no options "
                         "(env_options is for suites such as brax/<name>)")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Static settings of a PPO run; validated on construction, never mutated.

    Attributes:
      env: gymnax env id (see `ppo_jax.available_envs()`), or `<suite>/<name>`
        for another suite (`brax/hopper`; `ppo_jax.available_envs(suites=True)`);
        ignored when an env instance is passed to `make_train(..., env=...)`.
      env_options: the suite's options, a dict (stored as sorted (key, value)
        pairs, so the config stays hashable). Brax: backend ("generalized",
        "positional", "spring", "mjx"), episode_length (physics steps, default
        1000), action_repeat (default 1). gymnax envs take none.
      total_timesteps: env steps per agent; rounded down to whole updates (warns if so).
      num_envs: parallel envs per agent.
      num_steps: rollout length per env and update.
      num_minibatches: minibatches per epoch; must divide num_envs * num_steps.
      update_epochs: passes over the rollout per update.
      hidden_sizes: widths of the actor and critic MLPs (separate networks).
      activation: one of "tanh", "relu", "gelu", "silu", "elu".
      network: "mlp" (default); "cnn": a convolutional torso before each
        MLP, for image observations [H, W, C] such as MinAtar's; "gru" or
        "lstm": recurrent PPO (an MLP encoder of `hidden_sizes`, the cell, and
        actor and critic heads; `networks.RecurrentActorCritic`); or a name
        given to `ppo_jax.register_network`.
      rnn_size: the recurrent state's width ("gru", "lstm").
      sequence_length: recurrent networks only: the length of the sequences
        the update backpropagates through (truncated BPTT; each starts from the
        hidden state stored in the rollout); 0 (default): whole rollouts of
        num_steps. Minibatches split the num_envs * num_steps / sequence_length
        sequences, keeping each one's time order.
      conv_channels: output channels of the "cnn" torso's 3x3 convolutions
        (stride 1, no padding), one per layer; ignored by "mlp".
      anneal_lr: decay the learning rate linearly to 0 over num_updates.
      normalize_observations: running mean/var observation normalization.
      normalize_rewards: scale rewards by the running std of the discounted return.
      clip_value_loss: PPO2-style value clipping with clip_eps.
      objective: "clip" (default), "none", "kl_penalty" or "adaptive_kl".
      dual_clip: bound the objective below by dual_clip_coef * A for A < 0.
      early_stop: skip the rest of an update once approx KL > early_stop_kl.
      eval_every: evaluate the policy every N updates inside the jitted loop
        (metrics eval_return / eval_length, NaN at other updates); 0: off.
      eval_episodes: whole episodes per evaluation, run in parallel on their own env copies.
      eval_deterministic: evaluate the greedy policy (argmax / Gaussian mean);
        False: sample actions as in training.
      hparams: the default traced hyperparameters.
    """

    env: str = "CartPole-v1"
    env_options: tuple = ()
    total_timesteps: int = 499_712  # about 500k: 976 updates of 4 * 128, exactly
    num_envs: int = 4
    num_steps: int = 128
    num_minibatches: int = 4
    update_epochs: int = 4
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    network: str = "mlp"
    conv_channels: tuple[int, ...] = (16,)
    rnn_size: int = 128
    sequence_length: int = 0
    anneal_lr: bool = True
    normalize_observations: bool = False
    normalize_rewards: bool = False
    clip_value_loss: bool = True
    objective: str = "clip"
    dual_clip: bool = False
    early_stop: bool = False
    eval_every: int = 0
    eval_episodes: int = 10
    eval_deterministic: bool = True
    hparams: HParams = dataclasses.field(default_factory=HParams)

    def __post_init__(self):
        object.__setattr__(self, "env_options", _options_tuple(self.env_options))
        _check_env(self.env, self.env_options)
        for name in ("total_timesteps", "num_envs", "num_steps", "num_minibatches",
                     "update_epochs"):
            check_positive_int(getattr(self, name), name, "PPOConfig")
        for name in ("hidden_sizes", "conv_channels"):
            self._check_sizes(name)
        if not isinstance(self.network, str) or self.network not in network_names():
            raise ValueError(
                f"PPOConfig.network {self.network!r} is not one of {', '.join(network_names())} "
                "(your own module: ppo_jax.register_network)"
            )
        check_positive_int(self.rnn_size, "rnn_size", "PPOConfig")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"PPOConfig.activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"PPOConfig.objective {self.objective!r} is not one of {', '.join(OBJECTIVES)}"
            )
        for name in ("anneal_lr", "normalize_observations", "normalize_rewards",
                     "clip_value_loss", "dual_clip", "early_stop", "eval_deterministic"):
            check_bool(getattr(self, name), name, "PPOConfig")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"PPOConfig: the batch num_envs * num_steps = {self.num_envs} * {self.num_steps}"
                f" = {self.batch_size} is not divisible by num_minibatches = {self.num_minibatches}"
            )
        check_sequence_settings(self)
        if self.minibatch_size < 2:
            raise ValueError(
                f"PPOConfig: a minibatch of {self.minibatch_size} sample (batch {self.batch_size} / "
                f"num_minibatches {self.num_minibatches}) normalizes every advantage to zero; use "
                "fewer minibatches or a larger num_envs * num_steps"
            )
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"PPOConfig.total_timesteps = {self.total_timesteps} is smaller than one batch "
                f"(num_envs * num_steps = {self.batch_size})"
            )
        check_eval_settings(self)
        if self.total_timesteps % self.batch_size:
            warnings.warn(_rounding_message(self), UserWarning, stacklevel=_user_stacklevel())
        validate_hparams(self.hparams)

    def _check_sizes(self, name: str) -> None:
        """A non-empty tuple of positive ints (a list is converted)."""
        sizes = getattr(self, name)
        if isinstance(sizes, list):
            object.__setattr__(self, name, tuple(sizes))
            sizes = getattr(self, name)
        if not isinstance(sizes, tuple) or not sizes or not all(is_integer(h) and h > 0 for h in sizes):
            raise ValueError(f"PPOConfig.{name} must be a non-empty tuple of positive ints, got {sizes!r}")

    @property
    def batch_size(self) -> int:
        """Transitions collected per update: num_envs * num_steps."""
        return self.num_envs * self.num_steps

    @property
    def recurrent(self) -> bool:
        """Whether `network` is recurrent (hidden state in the train state, sequence minibatches)."""
        return is_recurrent_network(self.network)

    @property
    def bptt_length(self) -> int:
        """The length of the update's sequences: sequence_length, or num_steps for 0."""
        return self.sequence_length or self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        """Updates in a full run: total_timesteps // batch_size."""
        return self.total_timesteps // self.batch_size

    @property
    def steps_run(self) -> int:
        """Env steps a full run takes per agent: num_updates * batch_size (<= total_timesteps)."""
        return self.num_updates * self.batch_size

    def __repr__(self) -> str:
        # The dataclass repr, with the steps that will really run beside total_timesteps.
        runs = (f" (runs {self.steps_run}: {self.num_updates} update"
                f"{'s' if self.num_updates != 1 else ''} x {self.batch_size})")
        fields = [f"{f.name}={getattr(self, f.name)!r}" + (runs if f.name == "total_timesteps" else "")
                  for f in dataclasses.fields(self)]
        return f"PPOConfig({', '.join(fields)})"

    def replace(self, **changes: Any) -> "PPOConfig":
        """A copy with some fields changed (static fields or HParams fields)."""
        return _apply_overrides(self, changes)

    def to_dict(self) -> dict:
        """JSON-friendly dict: static fields plus an `hparams` dict of floats."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "hparams"}
        out["env_options"] = dict(self.env_options)
        out["hidden_sizes"] = list(self.hidden_sizes)
        out["conv_channels"] = list(self.conv_channels)
        out["hparams"] = {k: float(np.asarray(getattr(self.hparams, k))) for k in HPARAM_FIELDS}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "PPOConfig":
        data = dict(data)
        hp = HParams(**data.pop("hparams", {}))
        for name in ("hidden_sizes", "conv_channels"):  # JSON lists; absent in old files: default
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data, hparams=hp)


def check_sequence_settings(config: PPOConfig) -> None:
    """ValueError naming the field: sequence_length (0 or a divisor of num_steps, and only
    for recurrent networks) and num_minibatches (a divisor of the number of sequences)."""
    length = config.sequence_length
    if not is_integer(length) or length < 0:
        raise ValueError(f"PPOConfig.sequence_length must be an integer >= 0 (0: whole rollouts "
                         f"of num_steps), got {length!r}")
    if not is_recurrent_network(config.network):
        if length:
            raise ValueError(f"PPOConfig.sequence_length = {length} applies to recurrent networks "
                             f"only; network={config.network!r} is feed-forward (use 0)")
        return
    length = length or config.num_steps
    if config.num_steps % length:
        raise ValueError(f"PPOConfig.sequence_length = {length} does not divide num_steps = "
                         f"{config.num_steps}; use a divisor, or 0 for whole rollouts")
    sequences = config.num_envs * (config.num_steps // length)
    if sequences % config.num_minibatches:
        raise ValueError(
            f"PPOConfig.num_minibatches = {config.num_minibatches} does not divide the "
            f"{sequences} sequences of a recurrent update (num_envs {config.num_envs} x "
            f"num_steps {config.num_steps} / sequence_length {length}); minibatches hold whole "
            f"sequences, so use a divisor of {sequences}")


def check_eval_settings(config: PPOConfig) -> None:
    """ValueError naming the field: eval_every an int in [0, num_updates], eval_episodes > 0."""
    every = config.eval_every
    if not is_integer(every) or every < 0:
        raise ValueError(f"PPOConfig.eval_every must be an integer >= 0 (0: no evaluation), "
                         f"got {every!r}")
    check_positive_int(config.eval_episodes, "eval_episodes", "PPOConfig")
    if every > config.num_updates:
        raise ValueError(
            f"PPOConfig.eval_every = {every} is larger than the number of updates "
            f"{config.num_updates} (total_timesteps {config.total_timesteps} / batch "
            f"{config.batch_size}), so no evaluation would ever run; use eval_every in "
            f"[1, {config.num_updates}], or 0 for no evaluation")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the caller's code: the first frame
    outside ppo_jax, `dataclasses` and the __init__ dataclasses generate."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        internal = (path.startswith(_PACKAGE_DIR) or path == dataclasses.__file__
                    or (path == "<string>" and name == "__init__"))
        if not internal:
            return level
        frame, level = frame.f_back, level + 1
    return 1


def _rounding_message(config: PPOConfig) -> str:
    updates = config.num_updates
    return (
        f"PPOConfig.total_timesteps = {config.total_timesteps} is not a multiple of the batch "
        f"num_envs * num_steps = {config.num_envs} * {config.num_steps} = {config.batch_size}: "
        f"{updates} update{'s' if updates != 1 else ''} = {config.steps_run} env steps will run "
        f"({config.total_timesteps - config.steps_run} fewer); pass total_timesteps="
        f"{config.steps_run} or {config.steps_run + config.batch_size} to silence this"
    )


STATIC_FIELDS = tuple(f.name for f in dataclasses.fields(PPOConfig) if f.name != "hparams")


def _unknown_setting_error(key: str) -> ValueError:
    hint = (f" ({key!r} is an HParams field: pass hparams=HParams({key}=...), or use "
            f"config.replace({key}=...) / preset(env, {key}=...))" if key in HPARAM_FIELDS else "")
    return ValueError(
        f"unknown setting {key!r}{hint}; valid PPOConfig fields: {', '.join(STATIC_FIELDS)}; "
        f"valid HParams fields: {', '.join(HPARAM_FIELDS)}"
    )


_dataclass_init = PPOConfig.__init__


@functools.wraps(_dataclass_init)
def _checked_init(self, *args, **kwargs):
    """The dataclass __init__, after naming any unknown keyword and the valid ones."""
    for key in kwargs:
        if key not in STATIC_FIELDS and key != "hparams":
            raise _unknown_setting_error(key)
    _dataclass_init(self, *args, **kwargs)


PPOConfig.__init__ = _checked_init


def _apply_overrides(config: PPOConfig, overrides: dict) -> PPOConfig:
    static, hp = {}, {}
    for key, value in overrides.items():
        if key in HPARAM_FIELDS:
            hp[key] = value
        elif key in STATIC_FIELDS or key == "hparams":
            static[key] = value
        else:
            raise _unknown_setting_error(key)
    hparams = static.pop("hparams", config.hparams)
    if hp:
        hparams = hparams.replace(**hp)
    return dataclasses.replace(config, **static, hparams=hparams)


# Tuned settings. Each entry: (static fields, HParams fields). What each
# reaches is measured by tests/test_learning.py and stated in the README.
_PRESETS: dict[str, tuple[dict, dict]] = {
    # gymnax-blines' settings (8 envs x 32 steps, 4 epochs x 4 minibatches, 2x64
    # relu) at their 150k budget, lr 5e-4 annealed: 500 on all 8 seeds of the
    # search (scripts/tune_presets.sh); lr 1e-3 498.8, 2.5e-3 492.8. (The
    # defaults, PPOConfig(), reach 500 from about 350k steps.)
    # Budgets are whole updates (585 x 256 = 149,760; 976 x 512 = 499,712; 97 x
    # 2048 = 198,656), so no rounding warning.
    "CartPole-v1": (dict(total_timesteps=149_760, num_envs=8, num_steps=32, activation="relu"),
                    dict(learning_rate=5e-4)),
    # gymnax-blines' 500k steps. lr, gamma, gae_lambda and ent_coef from two searches
    # (scripts/tune_presets.sh Acrobot-v1+random, +grid): lr 3e-3, gamma 0.98, lambda
    # 0.85, no entropy bonus ended at -79.2 over 8 seeds, where the earlier preset's
    # lr 1e-3, gamma 0.99, lambda 0.95, ent_coef 0.01 ended at about -83.
    "Acrobot-v1": (
        dict(total_timesteps=499_712, num_envs=8, num_steps=128, normalize_observations=True),
        dict(learning_rate=3e-3, gamma=0.98, gae_lambda=0.85, ent_coef=0.0),
    ),
    # gymnax-blines' 1M steps (488 x 2048). Batches of 16 x 128 (twice the updates
    # of 16 x 256 for the same data) swing up sooner. lr, gamma and gae_lambda from
    # two searches at 1M (scripts/tune_presets.sh Pendulum-v1+random, +grid): lr 2e-4,
    # gamma 0.99, lambda 0.85 ended at -148.4 over 8 seeds, where the earlier
    # preset's lr 1e-3, gamma 0.95, lambda 0.95 ended at -162.
    "Pendulum-v1": (
        dict(total_timesteps=999_424, num_envs=16, num_steps=128, num_minibatches=8,
             update_epochs=10, normalize_observations=True, normalize_rewards=True,
             clip_value_loss=False),
        dict(learning_rate=2e-4, gamma=0.99, gae_lambda=0.85, ent_coef=0.0, max_grad_norm=0.5),
    ),
    # gymnax-blines' MinAtar PPO settings (64 envs x 128 steps, 4 epochs x 8
    # minibatches, gamma 0.999, a 2x256 relu MLP on the flattened board) at their
    # 10M budget (1220 updates of 8192), with lr 1e-3 annealed instead of their
    # constant 5e-4: 52.5 (min 24.0) over 16 seeds on an H200, where lr 2e-3 gave
    # 49.0 and lr 5e-4 reached 12.2 at 2M steps against 28.5 for 1e-3.
    "Breakout-MinAtar": (
        dict(total_timesteps=9_994_240, num_envs=64, num_steps=128, num_minibatches=8,
             hidden_sizes=(256, 256), activation="relu"),
        dict(learning_rate=1e-3, gamma=0.999),
    ),
}
# gymnax-blines runs the same settings on every MinAtar game; so do these presets
# (Breakout's). On 4 seeds at 10M steps (2-core CPU, 25 to 70 min a game): Asterix
# 24.6, SpaceInvaders 169.1 and Freeway 61.4, above gymnax's PPO (15, 131, 58);
# Seaquest 21.3 (no reference). scripts/results/returns/<game>.json.
for _game in ("Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar", "Seaquest-MinAtar"):
    _PRESETS[_game] = _PRESETS["Breakout-MinAtar"]


# bsuite, FourRooms and MountainCar, from scripts/tune_presets.sh: gymnax-blines'
# settings (2x64 relu, 32-step rollouts, 4 epochs x 4 minibatches) and budgets, the
# best of lr 5e-4, 1e-3 and 2.5e-3 (annealed) over 8 seeds;
# scripts/results/tuning/<env>/summary.csv. (MountainCarContinuous: see its entry.)
_BLINES = dict(num_steps=32, activation="relu")
_PRESETS.update({
    "Catch-bsuite": (dict(total_timesteps=99_840, num_envs=16, **_BLINES),  # 0.999 (0.995 to 0.999)
                     dict(learning_rate=2.5e-3, max_grad_norm=1.0)),
    # The treasure at the far corner, -0.01/N per step right: 2 of 8 seeds found
    # it (mean 0.25); lr 1e-3 found it on none.
    "DeepSea-bsuite": (dict(total_timesteps=149_760, num_envs=8, **_BLINES), dict(learning_rate=5e-4)),
    "DiscountingChain-bsuite": (dict(total_timesteps=149_760, num_envs=8, **_BLINES),  # 1.1, the optimum
                                dict(learning_rate=2.5e-3)),
    "UmbrellaChain-bsuite": (dict(total_timesteps=149_760, num_envs=8, **_BLINES),  # 0.95 (0.93 to 0.95)
                             dict(learning_rate=2.5e-3)),
    # Its arms are shuffled at every reset behind a constant observation, so a
    # memoryless policy scores chance, 0.5 (every lr: 0.499).
    "SimpleBandit-bsuite": (dict(total_timesteps=99_840, num_envs=8, **_BLINES),
                            dict(learning_rate=2.5e-3)),
    # Not solved: gymnax-blines' settings (16 envs x 32 steps, 64 epochs, ent 0.003,
    # grad norm 1) at the 250k budget left every seed of both searches (lr 5e-4 to
    # 2.5e-3, with and without observation normalization, ent 0.003 and 0.01) at -200,
    # never reaching the flag (gymnax's PPO: -118). The second search's setting.
    "MountainCar-v0": (dict(total_timesteps=249_856, num_envs=16, update_epochs=64,
                            normalize_observations=True, **_BLINES),
                       dict(learning_rate=2.5e-3, ent_coef=0.01, max_grad_norm=1.0)),
    # The PPO paper's MuJoCo settings, as scripts/ablation.py runs them (2048-step
    # batches of 8 envs, 10 epochs x 32 minibatches, lr 3e-4, no entropy bonus,
    # observation and reward normalization, no gradient or value clipping): they
    # reach the flag (93.5 at 102k steps in the ablation). gymnax-blines' settings did
    # not: every seed of the first search stood still (about 0), and with
    # normalization (second search) the mean was 6.5.
    "MountainCarContinuous-v0": (dict(total_timesteps=999_424, num_envs=8, num_steps=256,
                                      num_minibatches=32, update_epochs=10,
                                      normalize_observations=True, normalize_rewards=True,
                                      clip_value_loss=False),
                                 dict(learning_rate=3e-4, ent_coef=0.0, max_grad_norm=1e6)),
    # gymnax's default (non-visual) observation; lr 5e-4 left 2 of 8 seeds lost.
    "FourRooms-misc": (dict(total_timesteps=199_680, num_envs=16, **_BLINES),  # 0.999
                       dict(learning_rate=1e-3, max_grad_norm=1.0)),
})


# The misc envs gymnax's baselines give no budget or figure for, from
# scripts/tune_presets.sh: the defaults' 500k steps (they converge by then or
# earlier), 16 envs for the four that hide their task, the best of an MLP and a GRU
# (rnn_size 64) at lr 5e-4, 1e-3 and 2.5e-3 over 4 seeds (seed set 0);
# scripts/results/tuning/<env>/summary.csv.
_HIDDEN_TASK = dict(total_timesteps=499_712, num_envs=16)
_PRESETS.update({
    # The goal moves every episode; reaching it pays 10 and respawns the agent. The
    # MLP at lr 2.5e-3 ended at 8.3, the GRU at 8.0 (lr 1e-3); the untrained agent
    # scores 7.3, so neither learned much at this budget.
    "MetaMaze-misc": (dict(_HIDDEN_TASK), dict(learning_rate=2.5e-3)),
    # A hidden goal on a circle (sparse reward): the GRU remembers where it was found,
    # 8.8 at lr 2.5e-3; the MLP reached 3.7 (the defaults 0.8).
    "PointRobot-misc": (dict(network="gru", rnn_size=64, **_HIDDEN_TASK), dict(learning_rate=2.5e-3)),
    # Two arms of hidden odds: the GRU learns which pays, 89.4 of 100 pulls at lr
    # 2.5e-3; the MLP 81.5 (the defaults 67.1).
    "BernoulliBandit-misc": (dict(network="gru", rnn_size=64, **_HIDDEN_TASK),
                             dict(learning_rate=2.5e-3)),
    # Not learned: arm 0 pays 0, arm 1 a hidden mean drawn from N(-1, 1). Pulling arm
    # 1 once and keeping it when it paid would average about 7 (99 x E[max(0, mu)] - 1);
    # every setting settled on the safe arm (0.000 to 0.003).
    "GaussianBandit-misc": (dict(_HIDDEN_TASK), dict(learning_rate=5e-4)),
    # The defaults' settings (4 envs x 128 steps, 2x64 tanh), the best of lr 2.5e-4
    # (the default), 1e-3 and 2.5e-3 over 8 seeds.
    "Reacher-misc": (dict(total_timesteps=499_712), dict(learning_rate=2.5e-3)),  # 31.8 (default lr 19.7)
    "Swimmer-misc": (dict(total_timesteps=499_712), dict(learning_rate=1e-3)),  # 435 (lr 2.5e-4: 427, 2.5e-3: 432)
    # The slippery 4x4 lake: 0.724 with the default lr (1e-3: 0.59, 2.5e-3: 0.58), where
    # the optimal policy succeeds with probability 0.744 within the 100-step limit
    # (value iteration on Gymnasium's dynamics, which gymnax's follow).
    "FrozenLake-misc": (dict(total_timesteps=499_712), dict(learning_rate=2.5e-4)),
    # Against gymnax's scripted paddle, 1000-step episodes: lr 1e-3 ended at 1000 on
    # all 4 seeds; the default lr 2.5e-4 at 773 (it passed 950 at 250k, then fell back).
    "Pong-misc": (dict(total_timesteps=499_712), dict(learning_rate=1e-3)),
})


# Memory tasks: recurrent presets (README "Networks"; scripts/memory_table.py
# measures them against an MLP at the same budget).
_PRESETS.update({
    # CartPole without its velocities. 8 seeds at 1M steps: 484 to 500, 500 from
    # about 400k on. With ent_coef 0.01 one seed of 8 ended at 427; with lr 5e-4
    # two ended near 440; PureJaxRL's ppo_rnn settings (4 envs, lr 2.5e-4) reached
    # only about 320 on 4 seeds.
    "MaskedCartPole-v1": (
        dict(network="gru", hidden_sizes=(128,), activation="relu", rnn_size=128,
             total_timesteps=999_424, num_envs=16, num_steps=128, num_minibatches=8),
        dict(learning_rate=1e-3, ent_coef=0.0),
    ),
    # 1.0 (every episode right) on 4 seeds from about 10k steps; an MLP stays at 0.
    "MemoryChain-bsuite": (
        dict(network="gru", hidden_sizes=(64,), rnn_size=64, total_timesteps=102_400, num_envs=8,
             num_steps=128),
        dict(learning_rate=1e-3),
    ),
})

# Suites beyond gymnax (measured in the README's "Env suites" section).
# The PPO paper's MuJoCo settings (Table 3): 2048-step batches of 8 envs, 10 epochs x 32
# minibatches, lr 3e-4 annealed, no entropy bonus, observation and reward normalization,
# no gradient or value clipping.
_BRAX_PAPER = dict(num_envs=8, num_steps=256, num_minibatches=32, update_epochs=10,
                   normalize_observations=True, normalize_rewards=True, clip_value_loss=False)
_BRAX_PAPER_HP = dict(learning_rate=3e-4, ent_coef=0.0, max_grad_norm=1e6)
_PRESETS.update({
    # Success (return 1) on every episode of 4 seeds from about 100k steps;
    # mean episode length about 11 at the end.
    "navix/Navix-Empty-8x8-v0": (dict(total_timesteps=204_800, num_envs=16, num_steps=128),
                                 dict(learning_rate=1e-3)),
    # About 0.99 success on 4 seeds from about 250k steps.
    "navix/Navix-DoorKey-5x5-v0": (dict(total_timesteps=409_600, num_envs=16, num_steps=128),
                                   dict(learning_rate=1e-3)),
    # The PPO paper's MuJoCo settings (as scripts/ablation.py --brax runs them, clip 0.2):
    # 9,356 (9,354.5 to 9,357.7 per seed) on 4 seeds at the paper's 1M steps, flat from
    # about 200k; runs: scripts/results/tuning/brax-inverted_double_pendulum/.
    "brax/inverted_double_pendulum": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    # The same settings: 2,452 (2,237 to 2,889 per seed) on 4 seeds at 1M steps, still
    # rising; runs: scripts/results/tuning/brax-hopper/.
    "brax/hopper": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    # The same settings: 4,104 (3,134 to 5,127 per seed) on 4 seeds at 1M steps, about
    # 4,000 from about 700k (noisy); runs: scripts/results/tuning/brax-walker2d/.
    "brax/walker2d": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    # The same settings: -42.4 (-28.8 to -56.2 per seed; untrained about -1,170) on 4
    # seeds at 1M steps. Brax's reacher runs 1000-step episodes (MuJoCo's: 50), so its
    # returns are not comparable with MuJoCo's; runs: scripts/results/tuning/brax-reacher/.
    "brax/reacher": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    # The same settings: 1,496 (1,009 to 1,970 per seed) on 4 seeds at 1M steps, still
    # rising; runs: scripts/results/tuning/brax-halfcheetah/.
    "brax/halfcheetah": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    # The same settings: 1,061 (865 to 1,485 per seed) on 4 seeds at 1M steps, still
    # rising; runs: scripts/results/tuning/brax-ant/.
    "brax/ant": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    # 5.44 (95% CI 5.27 to 5.70) on 4 seeds at 1M steps, still rising (lr 3e-4: 4.91);
    # a uniformly random policy scores 1.41. runs: scripts/results/tuning/craftax-classic/.
    "craftax/Craftax-Classic-Symbolic-v1": (dict(total_timesteps=1_048_576, num_envs=16, num_steps=128,
                                                 hidden_sizes=(256, 256)),
                                            dict(learning_rate=1e-3)),
    # 1000 (the maximum) from about 150k steps; reward scaling is what makes it fast
    # (without it, 680 to 970 at 262k steps). No entropy bonus: on 8 seeds 994 (975 to
    # 1000 per seed) against 979 (944 to 1000) with ent_coef 0.01, whose wider policy
    # still drops the pole now and then; scripts/results/tuning/brax-inverted_pendulum/.
    "brax/inverted_pendulum": (dict(total_timesteps=524_288, num_envs=16, num_steps=128,
                                    normalize_observations=True, normalize_rewards=True),
                               dict(learning_rate=1e-3, ent_coef=0.0)),
})


def preset_envs() -> tuple[str, ...]:
    """The env ids that have a tuned `preset` (the others get the defaults)."""
    return tuple(_PRESETS)


def preset(env_id: str, **overrides: Any) -> PPOConfig:
    """Tuned `PPOConfig` for `env_id` (defaults where there is no preset yet).

    `overrides` may name static `PPOConfig` fields or `HParams` fields.
    """
    base = PPOConfig(env=env_id)  # validates the env id first
    static, hp = _PRESETS.get(env_id, ({}, {}))
    config = _apply_overrides(base, {**static, **hp})
    return _apply_overrides(config, overrides) if overrides else config
