"""Where one agent's env groups run (`PPOConfig.data_parallel`): sharding constraints.

The config fixes the maths of data parallelism (which envs form a group, how
minibatches draw from the groups); a `GroupPlacement` fixes only where each
group's arrays live: split over the `groups` axis of a device mesh. XLA then
keeps each group's rollout, GAE and share of every minibatch on its devices
and inserts the all-reduces the maths needs (the gradient's mean over the
minibatch, the running statistics' and advantage normalization's means). Inside
a population vmapped with `spmd_axis_name`, the member axis is added to every
constraint by JAX.
"""

from __future__ import annotations

import dataclasses

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

GROUPS_AXIS = "groups"


@dataclasses.dataclass(frozen=True)
class GroupPlacement:
    """An agent's groups split over the `GROUPS_AXIS` axis of `mesh`."""

    mesh: Mesh

    @property
    def num_devices(self) -> int:
        """How many devices one agent's groups are split over."""
        return self.mesh.shape[GROUPS_AXIS]

    def constrain(self, tree, axis: int = 0):
        """`tree` with every leaf's env (or group-major sample) axis `axis` split over the groups axis."""
        sharding = NamedSharding(self.mesh, PartitionSpec(*([None] * axis), GROUPS_AXIS))
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def place_groups(placement: GroupPlacement | None, tree, axis: int = 0):
    """`placement.constrain(tree, axis)`, or `tree` unchanged without a placement (one device)."""
    if placement is None or placement.num_devices == 1:
        return tree
    return placement.constrain(tree, axis)
