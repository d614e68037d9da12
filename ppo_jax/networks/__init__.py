"""Actor-critic networks, and the interface every network implements.

Built in (`PPOConfig.network`): "mlp", separate actor and critic MLPs; "cnn",
the same after a convolutional torso each (image observations); "gru" and
"lstm", an MLP encoder, a recurrent cell and two heads (`RecurrentActorCritic`).
Your own flax module plugs in through `register_network`.

The interface. A feed-forward network is a flax module with
  policy(obs [..., D]) -> dist_params      and      value(obs [..., D]) -> [...]
(`__call__(obs)` returns both; `init` is called with a [1, D] observation).
A recurrent network instead has
  initialize_carry(batch_shape) -> carry   (leaves [*batch_shape, ...]; a plain method, no params)
  unroll(carry, obs [T, B, D], starts [T, B]) -> (carry, dist_params [T, B, ...], value [T, B])
where starts[t, b] says obs[t, b] begins an episode, so the carry is reset to
`initialize_carry` before that step (`__call__` is `unroll`).

The actor returns the *parameters* of the action distribution (a dict of
arrays) so they can be stored in the rollout and the exact KL between old and
new policies computed later; `make_distribution` turns them into a distrax
distribution (`ppo_jax.core.distributions`).

Modules: `init` (orthogonal initialisation, `init_params`), `feedforward` (MLP, CNN),
`recurrent` (GRU, LSTM), `interface`, `registry` (names, `register_network`), `routing`
(what wraps any network for an env with observation keys, an action mask or
multi-discrete actions).
"""

from ppo_jax.networks.feedforward import (  # noqa: F401
    MLP,
    ActorCritic,
    ConvTorso,
    MLPLayers,
)
from ppo_jax.networks.init import (  # noqa: F401
    OrthogonalKernel,
    init_params,
    layer_gains,
    orthogonal,
    orthogonal_kernel_init,
    orthogonal_kernels,
)
from ppo_jax.networks.interface import (  # noqa: F401
    is_recurrent,
)
from ppo_jax.networks.recurrent import (  # noqa: F401
    CELLS,
    GRU,
    LSTM,
    RecurrentActorCritic,
    block_orthogonal,
    reset_where,
)
from ppo_jax.networks.registry import (  # noqa: F401
    BUILTIN_NETWORKS,
    NetworkEntry,
    is_recurrent_network,
    make_network,
    network_names,
    register_network,
)

__all__ = [
    "ActorCritic",
    "BUILTIN_NETWORKS",
    "CELLS",
    "ConvTorso",
    "GRU",
    "LSTM",
    "MLP",
    "MLPLayers",
    "NetworkEntry",
    "OrthogonalKernel",
    "RecurrentActorCritic",
    "block_orthogonal",
    "init_params",
    "is_recurrent",
    "is_recurrent_network",
    "layer_gains",
    "make_network",
    "network_names",
    "orthogonal",
    "orthogonal_kernel_init",
    "orthogonal_kernels",
    "register_network",
    "reset_where",
]

from ppo_jax._moved import moved_names  # noqa: E402

__getattr__ = moved_names(__name__, {
    'draw_policy_noise': 'ppo_jax.core.distributions',
    'greedy_action': 'ppo_jax.core.distributions',
    'make_distribution': 'ppo_jax.core.distributions',
    'sample_from_noise': 'ppo_jax.core.distributions',
})
