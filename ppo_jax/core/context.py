"""The static pieces of one agent, built once from a config: env adapter and network.

Training (`train.py`) and acting with a trained agent (`evaluate.py`) both
start here, so they always see the same env wrapping and the same network.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.config.config import PPOConfig
from ppo_jax.core.placement import GroupPlacement, place_groups
from ppo_jax.envs.adapters import Adapter, make_env
from ppo_jax.networks.feedforward import ActorCritic
from ppo_jax.networks.init import init_params
from ppo_jax.networks.registry import make_network


@dataclasses.dataclass(frozen=True)
class AgentContext:
    """config: the static settings; adapter: the wrapped env; network: the actor-critic;
    placement: where the agent's env groups run (None: wherever the program runs)."""

    config: PPOConfig
    adapter: Adapter
    network: ActorCritic
    placement: GroupPlacement | None = None

    def place(self, tree, axis: int = 0):
        """`tree` with its env (or group-major sample) axis `axis` split over the placement's devices."""
        return place_groups(self.placement, tree, axis)


def make_context(config: PPOConfig, env=None, env_params=None,
                 placement: GroupPlacement | None = None) -> AgentContext:
    """The adapter for `env` (a gymnax Environment; default: `config.env`) and its network."""
    adapter = make_env(config.env, env, env_params, config.env_options)
    return AgentContext(config, adapter, make_network(config, adapter.spec, adapter.env_name), placement)


def _shapes(tree) -> dict[str, tuple]:
    """{"actor/Dense_0/kernel": shape, ...} of a params tree."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p, simple=True, separator="/").removeprefix("params/"):
            tuple(x.shape) for p, x in leaves}


def describe_network(shapes: dict[str, tuple]) -> str:
    """Observation size, policy outputs and hidden sizes read off the actor's kernels."""
    def actor_kernels(prefix: str) -> list[tuple]:
        return [shapes[k] for k in sorted(shapes, key=_layer_order)
                if k.startswith(prefix) and k.endswith("/kernel")]

    kernels, convs = actor_kernels("actor/"), actor_kernels("actor_torso/")
    if "core/recurrent_kernel" in shapes:  # RecurrentActorCritic: encoder -> cell -> heads
        encoder = actor_kernels("encoder/")
        if not encoder or not kernels:
            return "an unrecognized network"
        cell = shapes["core/recurrent_kernel"][0]
        return (f"recurrent: observation size {encoder[0][0]}, encoder {tuple(k[1] for k in encoder)}, "
                f"cell size {cell}, {kernels[-1][1]} policy outputs")
    if not kernels or any(len(k) != 2 for k in kernels) or any(len(k) != 4 for k in convs):
        return "an unrecognized network"
    hidden = tuple(k[1] for k in kernels[:-1])
    mlp = f"{kernels[-1][1]} policy outputs, hidden sizes {hidden}"
    if convs:
        return (f"cnn: {convs[0][2]} observation channels, conv channels {tuple(k[3] for k in convs)}, "
                f"{kernels[0][0]} torso features, {mlp}")
    return f"observation size {kernels[0][0]}, {mlp}"


def _layer_order(name: str) -> tuple:
    """actor/Dense_10/kernel after actor/Dense_9/kernel."""
    parts = name.split("/")
    return tuple(int(p.split("_")[-1]) if p.startswith("Dense_") else 0 for p in parts), name


def _env_phrase(name: str | None, custom: bool) -> str:
    if name is None:
        return "an unrecorded env"
    return f"a custom env {name}" if custom else name


def check_finite_agent(state, where: str) -> None:
    """ValueError when a (concrete) agent's params or observation statistics hold
    NaN or inf: a diverged run, whose policy would act on NaN logits (a
    Categorical's argmax picks action 0) instead of failing. Traced states pass."""
    leaves = jax.tree.leaves((state.params, state.obs_stats))
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        return
    bad = ["/".join(str(getattr(k, "key", k)) for k in path) for path, leaf in
           jax.tree_util.tree_leaves_with_path({"params": state.params, "obs_stats": state.obs_stats})
           if not np.all(np.isfinite(np.asarray(leaf)))]
    if bad:
        raise ValueError(
            f"{where}: this agent diverged: its {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''} "
            "hold NaN or inf, so its policy would act on NaN logits. Its run's `diverged` metric "
            "says at which update; retrain with a lower learning_rate (or max_grad_norm).")


def check_agent_fits(ctx: AgentContext, state, where: str) -> None:
    """ValueError, before anything compiles, when `state` was not made for `ctx`'s env and network.

    Names both envs (the one the state records, and the config's or `env=`'s)
    and every parameter whose shape differs. `state` may have leading batch axes.
    """
    if state.custom_env and not ctx.adapter.custom:
        raise ValueError(
            f"{where}: this agent was trained on a custom env {state.env_name}; pass "
            f"env={state.env_name}(...) (and env_params=..., if it was trained with non-default "
            f"ones) instead of using config.env {ctx.config.env!r}"
        )
    batch = len(jnp.shape(state.update_step))
    have = {k: v[batch:] for k, v in _shapes(state.params).items()}
    want = _shapes(jax.eval_shape(
        lambda key: init_params(ctx.network, key, ctx.adapter.spec.obs_dim), jax.random.key(0)))
    agent_env = _env_phrase(state.env_name, state.custom_env)
    config_env = _env_phrase(ctx.adapter.env_name, ctx.adapter.custom)
    if have != want:
        diffs = [f"{k}: agent {list(have[k]) if k in have else 'missing'}, config "
                 f"{list(want[k]) if k in want else 'missing'}"
                 for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)]
        raise ValueError(
            f"{where}: the agent does not fit the config. The agent was trained on {agent_env} "
            f"({describe_network(have)}); the config is for {config_env} ({describe_network(want)}). "
            f"Mismatched params: {'; '.join(diffs[:6])}{' ...' if len(diffs) > 6 else ''}. Pass "
            "the config the agent was trained with (ppo_jax.load returns it with the state)."
        )
    if state.env_name is not None and (state.env_name, state.custom_env) != (
            ctx.adapter.env_name, ctx.adapter.custom):
        raise ValueError(
            f"{where}: the agent was trained on {agent_env}, but the config is for {config_env} "
            "(their shapes agree, so nothing else would say so). Pass the config (or env=) it "
            "was trained with."
        )
