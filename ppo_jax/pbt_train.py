"""Moved: `ppo_jax.pbt_train` is now `ppo_jax.pbt.run`, `ppo_jax.pbt.space`, `ppo_jax.pbt.state`,
`ppo_jax.parallel.mesh` and `ppo_jax.tracking.agents`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'Fitness': 'ppo_jax.pbt.state',
    'PBTPlan': 'ppo_jax.pbt.state',
    'PBTState': 'ppo_jax.pbt.state',
    'build_program': 'ppo_jax.pbt.run',
    'check_devices': 'ppo_jax.parallel.mesh',
    'check_fitness': 'ppo_jax.pbt.run',
    'check_ready_every': 'ppo_jax.pbt.run',
    'check_settings': 'ppo_jax.pbt.run',
    'fitness_name': 'ppo_jax.pbt.state',
    'generation_step': 'ppo_jax.pbt.run',
    'init_run': 'ppo_jax.pbt.run',
    'mean_return': 'ppo_jax.pbt.run',
    'member_devices': 'ppo_jax.parallel.mesh',
    'member_sharding': 'ppo_jax.parallel.mesh',
    'parse_init_space': 'ppo_jax.pbt.space',
    'parse_space': 'ppo_jax.pbt.space',
    'pbt': 'ppo_jax.pbt.run',
    'pbt_agents': 'ppo_jax.tracking.agents',
    'run_generations': 'ppo_jax.pbt.run',
    'sharding_constraint': 'ppo_jax.parallel.mesh',
})
