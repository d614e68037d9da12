"""What sits between any actor-critic and an env's observations and actions.

Three env features need the same handling whichever network is used, so one
wrapper does them around the built-in networks and registered ones alike:

- **Observation keys.** With `PPOConfig.policy_obs_key` / `value_obs_key`, the
  actor reads only the leaves under one key of a structured observation and
  the critic those under another (a privileged critic: Brax's and MuJoCo
  Playground's `policy_obs_key`/`value_obs_key`). The wrapper slices them out
  of the flat observation, so the inner network sees just its inputs.
- **Action masks.** Where the env names a mask leaf (`EnvSpec.action_mask`),
  the policy's logits of illegal actions become `MASKED_LOGIT`, so the rollout,
  the loss and evaluation all use the masked distribution. The mask is read
  from the flat observation, where it is never normalized.
- **Multi-discrete actions.** The inner network's policy head has
  sum(action_dims) logits; the wrapper lays them out as factored logits
  [..., D, max n_d], the shorter dimensions padded with `MASKED_LOGIT`.

The wrapper shares its inner network's parameter scope (`nn.share_scope`), so
the parameters are exactly the inner network's, and an env without any of the
three gets no wrapper at all.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# The logit of an illegal action: finite (so 0 * logit is 0, not NaN, in the entropy and
# KL), and far enough below any real logit that exp(MASKED_LOGIT - max) is exactly 0 in
# float32, so the action has probability 0 and is never sampled.
MASKED_LOGIT = -1e9


def mask_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """`logits` with every illegal entry (legal False or 0) set to `MASKED_LOGIT`; same shape."""
    return jnp.where(jnp.asarray(legal) > 0, logits, MASKED_LOGIT)


@dataclasses.dataclass(frozen=True)
class Routing:
    """The static slicing of one env's flat observations and policy outputs.

    policy_spans, value_spans: (start, stop) ranges of the flat observation the
      actor and the critic read, concatenated in order (None: all of it).
    mask_span: (start, stop) of the action mask in the flat observation, or None.
    action_dims: the multi-discrete dimensions' sizes, or None.
    """

    policy_spans: tuple | None = None
    value_spans: tuple | None = None
    mask_span: tuple | None = None
    action_dims: tuple | None = None

    @property
    def needed(self) -> bool:
        """Whether anything is routed (else the network is used as it is)."""
        return any(x is not None for x in dataclasses.astuple(self))


def select_spans(flat_obs: jax.Array, spans: tuple | None) -> jax.Array:
    """The ranges `spans` of flat_obs [..., D], concatenated: [..., sum of their lengths]."""
    if spans is None:
        return flat_obs
    parts = [flat_obs[..., start:stop] for start, stop in spans]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


def factor_logits(logits: jax.Array, action_dims: tuple) -> jax.Array:
    """[..., sum(action_dims)] logits -> [..., D, max n_d], each dimension's logits in its row,
    padded with `MASKED_LOGIT` (never chosen, zero probability)."""
    width = max(action_dims)
    if all(n == width for n in action_dims):
        return jnp.reshape(logits, logits.shape[:-1] + (len(action_dims), width))
    rows, start = [], 0
    for n in action_dims:
        row = logits[..., start:start + n]
        pad = jnp.full(row.shape[:-1] + (width - n,), MASKED_LOGIT, row.dtype)
        rows.append(jnp.concatenate([row, pad], axis=-1))
        start += n
    return jnp.stack(rows, axis=-2)


def route_policy(routing: Routing, dist_params: dict, flat_obs: jax.Array) -> dict:
    """The inner network's dist_params, masked by the observation's mask and laid out per
    dimension for a multi-discrete action. flat_obs [..., D] is the network's input."""
    if "logits" not in dist_params or (routing.mask_span is None and routing.action_dims is None):
        return dist_params
    logits = dist_params["logits"]
    if routing.mask_span is not None:
        start, stop = routing.mask_span
        legal = flat_obs[..., start:stop]
        logits = mask_logits(logits, jnp.broadcast_to(legal, logits.shape))
    if routing.action_dims is None:
        return {"logits": logits}
    return {"factor_logits": factor_logits(logits, routing.action_dims)}


class RoutedActorCritic(nn.Module):
    """A feed-forward actor-critic (`inner`) behind a `Routing`; same interface, same params."""

    inner: nn.Module
    routing: Routing

    def setup(self):
        nn.share_scope(self, self.inner)

    def __call__(self, obs: jax.Array) -> tuple[dict, jax.Array]:
        return self.policy(obs), self.value(obs)

    def policy(self, obs: jax.Array) -> dict:
        """obs [..., obs_dim] (flat, normalized) -> dist_params, masked and factored."""
        out = self.inner.policy(select_spans(obs, self.routing.policy_spans))
        return route_policy(self.routing, out, obs)

    def value(self, obs: jax.Array) -> jax.Array:
        """obs [..., obs_dim] -> value [...], from the critic's key's leaves."""
        return self.inner.value(select_spans(obs, self.routing.value_spans))


class RoutedRecurrentActorCritic(nn.Module):
    """A recurrent actor-critic (`inner`) behind a `Routing`. Its actor and critic share one
    recurrent core, so both read the policy's key (a separate critic key is refused earlier)."""

    inner: nn.Module
    routing: Routing

    def setup(self):
        nn.share_scope(self, self.inner)

    def initialize_carry(self, batch_shape: tuple = ()):
        """The inner network's carry of a fresh episode."""
        return self.inner.initialize_carry(batch_shape)

    def __call__(self, carry, obs: jax.Array, starts: jax.Array):
        return self.unroll(carry, obs, starts)

    def unroll(self, carry, obs: jax.Array, starts: jax.Array):
        """As the inner network's `unroll`; dist_params masked and factored."""
        carry, dist_params, value = self.inner.unroll(
            carry, select_spans(obs, self.routing.policy_spans), starts)
        return carry, route_policy(self.routing, dist_params, obs), value


def spans_of(leaves) -> tuple:
    """(start, stop) ranges covering `leaves` (ObsLeaf) in flat order, adjacent ones merged."""
    spans: list[list[int]] = []
    for leaf in sorted(leaves, key=lambda leaf: leaf.offset):
        if spans and spans[-1][1] == leaf.offset:
            spans[-1][1] += leaf.size
        else:
            spans.append([leaf.offset, leaf.offset + leaf.size])
    return tuple(tuple(span) for span in spans)


def check_obs_key(field: str, key: str | None, spec, env_name: str | None) -> None:
    """ValueError naming `field` and the valid keys when `key` is not one of the env's
    observation keys (or the observation is not structured)."""
    if key is None:
        return
    layout = spec.obs_layout
    if layout is None:
        raise ValueError(
            f"PPOConfig.{field} {key!r}: {env_name or 'this env'} has one array as its observation, "
            "with no keys; leave it None")
    if not layout.has_key(key):
        raise ValueError(f"PPOConfig.{field} {key!r} is not a key of {env_name or 'this env'}'s "
                         f"observation; valid: {', '.join(layout.top_level_keys)}")


def make_routing(config, spec, env_name: str | None = None) -> Routing:
    """The `Routing` of `config` (policy_obs_key, value_obs_key) for an env of `spec`.

    Raises ValueError (before anything compiles) for a key the observation does not have,
    or a separate critic key with a recurrent network.
    """
    policy_key = getattr(config, "policy_obs_key", None)
    value_key = getattr(config, "value_obs_key", None)
    check_obs_key("policy_obs_key", policy_key, spec, env_name)
    check_obs_key("value_obs_key", value_key, spec, env_name)
    layout = spec.obs_layout
    policy_spans = None if policy_key is None else spans_of(layout.leaves_under(policy_key))
    value_spans = None if value_key is None else spans_of(layout.leaves_under(value_key))
    return Routing(policy_spans=policy_spans, value_spans=value_spans, mask_span=spec.mask_span,
                   action_dims=spec.action_dims)


def input_leaf_shapes(spec, key: str | None) -> tuple:
    """The shapes of the leaves an actor or critic reading `key` gets, in order (for a torso
    that splits its flat input back into leaves)."""
    leaves = spec.obs_layout.leaves if key is None else spec.obs_layout.leaves_under(key)
    return tuple(leaf.shape for leaf in sorted(leaves, key=lambda leaf: leaf.offset))


def legal_rows_missing(routing: Routing, flat_obs: jax.Array) -> jax.Array:
    """How many observations in flat_obs [..., D] have no legal action (in some dimension,
    for a multi-discrete action): int32 []. Zero without a mask."""
    if routing.mask_span is None:
        return jnp.zeros((), jnp.int32)
    start, stop = routing.mask_span
    legal = flat_obs[..., start:stop] > 0
    if routing.action_dims is None:
        empty = ~jnp.any(legal, axis=-1)
    else:
        bounds = np.cumsum((0,) + tuple(routing.action_dims))
        empty = jnp.zeros(legal.shape[:-1], bool)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            empty = empty | ~jnp.any(legal[..., lo:hi], axis=-1)
    return jnp.sum(empty).astype(jnp.int32)
