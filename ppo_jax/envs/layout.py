"""Structured observations: where each leaf of a pytree observation sits in the flat vector.

An env may hand over an observation that is a pytree (a dict, a NamedTuple, a
flax struct dataclass, nested) instead of one array. The rollout stores and
normalizes flat float32 vectors, so the adapter flattens each observation by
an `ObsLayout`: every leaf raveled and concatenated, in `jax.tree` order. The
network gets the same layout to read leaves back (`ObsLayout.unflatten`,
`ObsLayout.spans`): a CNN torso for image leaves, one key for the actor and
another for the critic.

Leaf keys are the pytree path joined with ".": a dict key, an attribute name
(NamedTuple, dataclass) or a sequence index, e.g. "state",
"privileged_state", "action_mask", "obs.view". A key names one leaf or the
whole subtree under it.

A leaf module: it imports nothing from ppo_jax.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class ObsLeaf:
    """One leaf of a structured observation.

    key: its path ("state", "obs.view"); shape: the leaf's shape in one observation;
    dtype: its dtype's name; offset: where its raveled values start in the flat vector.
    """

    key: str
    shape: tuple
    dtype: str
    offset: int

    @property
    def size(self) -> int:
        """How many flat elements the leaf takes."""
        return math.prod(self.shape)

    @property
    def is_image(self) -> bool:
        """Whether the leaf is shaped like an image, [H, W, C] (what a "cnn" torso reads)."""
        return len(self.shape) == 3


def _key_part(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _path_key(path) -> str:
    return ".".join(_key_part(entry) for entry in path)


@dataclasses.dataclass(frozen=True)
class ObsLayout:
    """How a pytree observation maps onto a flat float32 vector [dim].

    leaves: one `ObsLeaf` per array leaf, in `jax.tree` order; treedef: the
    observation's structure (to rebuild it).
    """

    leaves: tuple
    treedef: Any

    @classmethod
    def from_example(cls, obs) -> ObsLayout:
        """The layout of `obs`: one observation, leaves arrays or `jax.ShapeDtypeStruct`."""
        paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(obs)
        if not paths_leaves:
            raise ValueError("EnvSpec: a structured observation needs at least one array leaf, got "
                             f"{type(obs).__name__} with none")
        leaves, offset = [], 0
        for path, leaf in paths_leaves:
            if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
                raise ValueError(f"EnvSpec: observation leaf {_path_key(path)!r} is a "
                                 f"{type(leaf).__name__}, not an array")
            dtype = np.dtype(leaf.dtype)
            if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
                raise ValueError(f"EnvSpec: observation leaf {_path_key(path)!r} has dtype {dtype}; "
                                 "leaves must be numeric or bool arrays")
            leaf_spec = ObsLeaf(_path_key(path), tuple(int(n) for n in leaf.shape), dtype.name, offset)
            leaves.append(leaf_spec)
            offset += leaf_spec.size
        return cls(tuple(leaves), treedef)

    @property
    def dim(self) -> int:
        """Length of the flat vector."""
        return sum(leaf.size for leaf in self.leaves)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every leaf's key, in flat order."""
        return tuple(leaf.key for leaf in self.leaves)

    @property
    def top_level_keys(self) -> tuple[str, ...]:
        """The first part of every key, each once, in order: what `policy_obs_key` may name."""
        return tuple(dict.fromkeys(key.split(".")[0] for key in self.keys))

    def leaves_under(self, key: str) -> tuple[ObsLeaf, ...]:
        """The leaves `key` names: the leaf itself, or every leaf of the subtree under it."""
        return tuple(leaf for leaf in self.leaves if leaf.key == key or leaf.key.startswith(key + "."))

    def has_key(self, key: str) -> bool:
        """Whether `key` names a leaf or a subtree of this observation."""
        return bool(self.leaves_under(key))

    def spans(self, key: str | None, exclude: str | None = None) -> tuple[ObsLeaf, ...]:
        """The leaves under `key` (None: all of them), less those under `exclude`."""
        chosen = self.leaves if key is None else self.leaves_under(key)
        dropped = set() if exclude is None else set(self.leaves_under(exclude))
        return tuple(leaf for leaf in chosen if leaf not in dropped)

    def flatten(self, obs) -> jax.Array:
        """A pytree observation (leaves [*batch, *shape]) -> float32 [*batch, dim]."""
        flat_leaves = self.treedef.flatten_up_to(obs)
        first = self.leaves[0]
        batch = tuple(jnp.shape(flat_leaves[0])[: jnp.ndim(flat_leaves[0]) - len(first.shape)])
        return jnp.concatenate(
            [jnp.reshape(x, batch + (leaf.size,)).astype(jnp.float32)
             for x, leaf in zip(flat_leaves, self.leaves)], axis=-1)

    def batch_shape(self, obs) -> tuple | None:
        """The leading axes shared by every leaf of `obs`, or None when `obs` does not fit
        this layout (another structure, or a leaf of another shape)."""
        try:
            flat_leaves = self.treedef.flatten_up_to(obs)
        except (ValueError, TypeError):
            return None
        batches = set()
        for x, leaf in zip(flat_leaves, self.leaves):
            shape = tuple(jnp.shape(x))
            cut = len(shape) - len(leaf.shape)
            if cut < 0 or shape[cut:] != leaf.shape:
                return None
            batches.add(shape[:cut])
        return batches.pop() if len(batches) == 1 else None

    def unflatten(self, flat: jax.Array):
        """float32 [*batch, dim] -> the observation's pytree, leaves float32 [*batch, *shape]."""
        batch = flat.shape[:-1]
        leaves = [jnp.reshape(flat[..., leaf.offset:leaf.offset + leaf.size], batch + leaf.shape)
                  for leaf in self.leaves]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def sublayout(self, key: str) -> ObsLayout:
        """The layout of the subtree under `key` alone (offsets from 0), for an observation
        that holds only that part (what `make_policy` accepts for the policy's key)."""
        chosen = self.leaves_under(key)
        example = jax.tree_util.tree_unflatten(
            self.treedef, [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in self.leaves])
        for part in key.split("."):
            example = _child(example, part)
        sub = ObsLayout.from_example(example)
        assert len(sub.leaves) == len(chosen)
        return sub


def _child(tree, part: str):
    """The child `part` of a dict, NamedTuple, dataclass or sequence."""
    if isinstance(tree, dict):
        return tree[part]
    if isinstance(tree, (list, tuple)) and part.isdigit() and not hasattr(tree, "_fields"):
        return tree[int(part)]
    return getattr(tree, part)
