"""Configuration: traced hyperparameters (`hparams`), the static config and its checks
(`config`), and the published presets (`presets`, data)."""

from ppo_jax.config.config import (  # noqa: F401
    ACTIVATIONS,
    NETWORKS,
    OBJECTIVES,
    STATIC_FIELDS,
    PPOConfig,
    available_envs,
    check_eval_settings,
    check_sequence_settings,
)
from ppo_jax.config.hparams import (  # noqa: F401
    HPARAM_FIELDS,
    HParams,
    HParamValue,
    validate_hparams,
)
from ppo_jax.config.presets import (  # noqa: F401
    preset,
    preset_envs,
)

__all__ = [
    "ACTIVATIONS",
    "HPARAM_FIELDS",
    "HParamValue",
    "HParams",
    "NETWORKS",
    "OBJECTIVES",
    "PPOConfig",
    "STATIC_FIELDS",
    "available_envs",
    "check_eval_settings",
    "check_sequence_settings",
    "preset",
    "preset_envs",
    "validate_hparams",
]
