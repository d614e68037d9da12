"""Envs: the protocol (`spec`: `Env`, `EnvStep`, `EnvSpec`; `layout`: structured observations), the adapters the
rollout steps (`adapters`: gymnax's interface and the protocol; Box actions mapped from
[-1, 1] onto the env's bounds), wrappers (`masked`), suites (`suites/`) and probe envs for
tests and measurements (`probes`: `CueMemoryEnv`, the memory probe).
"""

# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import Environment, EnvParams  # noqa: F401

from ppo_jax.envs.adapters import (  # noqa: F401
    Adapter,
    GymnaxAdapter,
    ProtocolAdapter,
    make_env,
)
from ppo_jax.envs.layout import (  # noqa: F401
    ObsLayout,
    ObsLeaf,
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
    "ObsLayout",
    "ObsLeaf",
    "ProtocolAdapter",
    "StepResult",
    "make_env",
]
