"""What every network implements (see `ppo_jax.networks`), and the one-step call of a recurrent one."""

from __future__ import annotations

import flax.linen as nn
import jax


def is_recurrent(network: nn.Module) -> bool:
    """Whether `network` follows the recurrent interface (`unroll`, `initialize_carry`)."""
    return hasattr(network, "unroll")


def recurrent_step(network: nn.Module, params, hidden, obs: jax.Array, episode_start: jax.Array):
    """One step of a recurrent network for N envs: `unroll` over a sequence of length 1.

    Args:
      network: a recurrent network (`is_recurrent`).
      params: its parameters.
      hidden: the carry entering the step, leaves [N, ...].
      obs: float32 [N, D], the (normalized) observations.
      episode_start: bool [N]: obs[n] begins an episode (its carry is reset first).

    Returns:
      (carry after the step, leaves [N, ...]; dist_params, leaves [N, ...]; value float32 [N]).
    """
    hidden, dist_params, value = network.apply(params, hidden, obs[None], episode_start[None],
                                               method="unroll")
    return hidden, jax.tree.map(lambda x: x[0], dist_params), value[0]
