"""Envs: the protocol (`spec`, a leaf), adapters (`adapters`), wrappers (`masked`), suites (`suites/`),
probe envs for tests and measurements (`probes`: `CueMemoryEnv`, the memory probe).

Env adapters: flat float observations, actions mapped to the env, episode logs.

The rollout steps an *adapter* (`reset`, `step` -> `StepResult`, `spec`). Two
kinds:

- `GymnaxAdapter`, for gymnax's `Environment` interface (the default suite).
  gymnax >= 1.0: `step` returns `(obs, state, reward, terminated, truncated,
  info)` with `info["final_observation"]` the observation before the auto-reset.
- `ProtocolAdapter`, for any env that follows the `Env` protocol below: the
  other suites (`ppo_jax.envs.suites`: Brax, ...) and a user's own env object.

Box actions: the policy acts in [-1, 1] per component; the adapter clips its
sample to [-1, 1] and maps it affinely onto the env's bounds [low, high]
(`EnvSpec.action_low/high`). The rollout stores the unclipped sample and its
log-probability, so the ratio is taken on what the policy drew.
"""

# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import Environment, EnvParams  # noqa: F401

from ppo_jax.envs.adapters import (  # noqa: F401
    Adapter,
    GymnaxAdapter,
    ProtocolAdapter,
    make_env,
)
from ppo_jax.envs.masked import (  # noqa: F401
    MASKED_ENVS,
    MaskedObservation,
)
from ppo_jax.envs.spec import (  # noqa: F401
    Env,
    EnvSpec,
    EnvStep,
    LogState,
    StepResult,
)

__all__ = [
    "Adapter",
    "Env",
    "EnvParams",
    "EnvSpec",
    "EnvStep",
    "Environment",
    "GymnaxAdapter",
    "LogState",
    "MASKED_ENVS",
    "MaskedObservation",
    "ProtocolAdapter",
    "StepResult",
    "make_env",
]
