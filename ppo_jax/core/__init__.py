"""The algorithm core: types, rollout (and whole episodes), GAE, loss, update, the iteration.

Imports no CLI, logger, progress or file code: everything here runs inside `jit`."""
