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
from typing import Any

import gymnax
import numpy as np

from ppo_jax.config.hparams import HPARAM_FIELDS, HParams, validate_hparams
from ppo_jax.envs.masked import MASKED_ENVS
from ppo_jax.envs.suites import SUITES, check_suite_env, suite_env_ids
from ppo_jax.networks.registry import (
    BUILTIN_NETWORKS,
    is_recurrent_network,
    network_names,
)
from ppo_jax.util.checks import check_bool, check_positive_int, is_integer

NETWORKS = BUILTIN_NETWORKS  # the built-in names (scripts/train.py offers them)

OBJECTIVES = ("clip", "none", "kl_penalty", "adaptive_kl")
ACTIVATIONS = ("tanh", "relu", "gelu", "silu", "elu")

# Envs that gymnax registers but that cannot be built without a download.
_NEEDS_DOWNLOAD = ("MNISTBandit-bsuite",)


def available_envs(suites: bool = False) -> list[str]:
    """The gymnax env ids `PPOConfig.env` accepts (and ppo_jax's masked variants of
    them, such as `MaskedCartPole-v1`); with `suites`, also the
    `<suite>/<name>` ids of every installed suite (`ppo_jax.envs.suites`)."""

    ids = [e for e in gymnax.registered_envs if e not in _NEEDS_DOWNLOAD] + list(MASKED_ENVS)
    if suites:

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


def check_env_id(env: str) -> None:
    """ValueError naming the valid ids unless `env` is an id `PPOConfig.env` accepts.

    Imports only the suite that `env` names (none for a gymnax id), so a command line
    can check its --env without importing every installed suite.
    """
    _check_env(env, ())


def _check_env(env: Any, options: tuple) -> None:
    if isinstance(env, str) and "/" in env:

        check_suite_env(env, dict(options))
        return
    if not isinstance(env, str) or env not in available_envs():

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
      data_parallel: how many groups the agent's num_envs are split into
        (default 1: one group, the plain algorithm). Each group's rollout and
        GAE stay local; each minibatch takes an equal share from every group,
        shuffled within the group; the loss is the mean over the whole
        minibatch (so gradients are averaged over groups), and advantage
        normalization and the running observation and reward statistics use
        every group's data, so all groups hold the same parameters. It fixes
        the maths; the devices (`make_train(..., devices=)`, `train_seeds`,
        `sweep`, `pbt`) fix only where each group runs. Must divide num_envs,
        and each group's share of the batch must divide into num_minibatches.
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
      policy_obs_key, value_obs_key: for an env with structured (pytree)
        observations, the key whose leaves the actor reads and the one the
        critic reads (e.g. "state" and "privileged_state": a privileged
        critic, as Brax's and MuJoCo Playground's PPO name them); None
        (default): every leaf. Checked against the env's observation before
        anything compiles. Evaluation and `make_policy` use only the policy's.
        A recurrent network's actor and critic share one core, so they read
        the same key: value_obs_key must then be None or equal policy_obs_key.
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
    data_parallel: int = 1
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    network: str = "mlp"
    conv_channels: tuple[int, ...] = (16,)
    rnn_size: int = 128
    sequence_length: int = 0
    policy_obs_key: str | None = None
    value_obs_key: str | None = None
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
                     "update_epochs", "data_parallel"):
            check_positive_int(getattr(self, name), name, "PPOConfig")
        for name in ("hidden_sizes", "conv_channels"):
            self._check_sizes(name)
        if not isinstance(self.network, str) or self.network not in network_names():
            raise ValueError(
                f"PPOConfig.network {self.network!r} is not one of {', '.join(network_names())} "
                "(your own module: ppo_jax.register_network)"
            )
        check_positive_int(self.rnn_size, "rnn_size", "PPOConfig")
        for name in ("policy_obs_key", "value_obs_key"):
            key = getattr(self, name)
            if key is not None and (not isinstance(key, str) or not key):
                raise ValueError(f"PPOConfig.{name} must be None or the name of an observation key "
                                 f"(a non-empty string), got {key!r}")
        if self.recurrent and self.value_obs_key not in (None, self.policy_obs_key):
            raise ValueError(
                f"PPOConfig.value_obs_key {self.value_obs_key!r}: network={self.network!r} is recurrent, "
                f"and its actor and critic share one recurrent core, which reads policy_obs_key "
                f"({self.policy_obs_key!r}); use a feed-forward network (mlp, cnn) for a separate critic key")
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
        check_data_parallel(self)
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
        """Transitions per minibatch: batch_size // num_minibatches."""
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

    def replace(self, **changes: Any) -> PPOConfig:
        """A copy with some fields changed (static fields or HParams fields)."""
        return apply_overrides(self, changes)

    def to_dict(self) -> dict:
        """JSON-friendly dict: static fields plus an `hparams` dict of floats."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "hparams"}
        out["env_options"] = dict(self.env_options)
        out["hidden_sizes"] = list(self.hidden_sizes)
        out["conv_channels"] = list(self.conv_channels)
        out["hparams"] = {k: float(np.asarray(getattr(self.hparams, k))) for k in HPARAM_FIELDS}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> PPOConfig:
        """The config `to_dict` describes (lists back to tuples; validated as on construction).

        Args:
          data: a dict of `PPOConfig` fields, such as `to_dict()`'s or its JSON
            round trip; `hparams`, when present, a dict of `HParams` fields.
            Absent fields take their defaults.

        Raises:
          ValueError: an unknown `PPOConfig` field, or a value `PPOConfig` rejects.
          TypeError: an unknown key in `hparams`.
        """
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


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


def check_data_parallel(config: PPOConfig) -> None:
    """ValueError naming the field: data_parallel divides num_envs, and every group's share of
    the batch (its samples, or its sequences for a recurrent network) divides into
    num_minibatches, so each minibatch takes an equal share from every group."""
    groups = config.data_parallel
    if config.num_envs % groups:
        raise ValueError(
            f"PPOConfig.data_parallel = {groups} does not divide num_envs = {config.num_envs}: "
            f"each of the {groups} groups holds num_envs / data_parallel envs; use a divisor of "
            f"{config.num_envs} ({_divisors(config.num_envs)}), or num_envs a multiple of {groups}")
    if groups == 1:
        return
    units = config.num_envs // groups * config.num_steps  # one group's samples
    what = "samples (num_envs / data_parallel x num_steps)"
    if config.recurrent:
        units = config.num_envs // groups * (config.num_steps // config.bptt_length)
        what = "sequences (num_envs / data_parallel x num_steps / sequence_length)"
    if units % config.num_minibatches:
        raise ValueError(
            f"PPOConfig.num_minibatches = {config.num_minibatches} does not divide one group's "
            f"{units} {what} with data_parallel = {groups}: each minibatch takes an equal share "
            f"from every group; use num_minibatches in ({_divisors(units)})")


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


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ppo_jax/


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


def apply_overrides(config: PPOConfig, overrides: dict) -> PPOConfig:
    """A copy of `config` with `overrides` applied (what `PPOConfig.replace` does).

    Args:
      config: the base settings.
      overrides: field name -> value; a key may name a static `PPOConfig` field,
        `hparams` (a whole `HParams`) or an `HParams` field, which is set on
        the new config's hparams (on top of an `hparams` given alongside).

    Returns:
      A new, validated `PPOConfig`.

    Raises:
      ValueError: a key that is no field of either (the message lists the valid ones),
        or a value `PPOConfig` or `HParams` rejects.
    """
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
