"""Moved: `ppo_jax.types` is now `ppo_jax.core.types`, `ppo_jax.outputs`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'Batch': 'ppo_jax.core.types',
    'BestAgent': 'ppo_jax.core.types',
    'RecurrentState': 'ppo_jax.core.types',
    'TrainOutput': 'ppo_jax.outputs',
    'TrainState': 'ppo_jax.core.types',
    'Transition': 'ppo_jax.core.types',
    'describe_divergence': 'ppo_jax.outputs',
    'describe_train_output': 'ppo_jax.outputs',
})
