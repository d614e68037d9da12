"""`ppo_jax.loggers`: experiment trackers (public; the code lives in `ppo_jax.tracking`).

The same objects as `ppo_jax.tracking.loggers` and `ppo_jax.tracking.agents`.
"""

from ppo_jax.tracking.agents import (  # noqa: F401
    Agents,
    config_hparams,
    seed_agents,
    setting_name,
    sweep_agents,
)
from ppo_jax.tracking.loggers import (  # noqa: F401
    EXTRA,
    POPULATION_MODES,
    TRACKERS,
    BoundLogger,
    JsonlLogger,
    Logger,
    LoggerArg,
    TensorBoardLogger,
    WandbLogger,
    bind_logger,
    make_logger,
    read_jsonl,
)
