"""PBT search spaces: ranges to perturb within, and the initial population's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ppo_jax.config.config import STATIC_FIELDS
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams, validate_hparams
from ppo_jax.pbt.exploit import Range
from ppo_jax.util.checks import parse_range


# --- validation (all before compiling) -------------------------------------------------
def _parse_range(key: str, spec: Any, name: str) -> Range:
    """(low, high) or (low, high, "log") -> Range, with values valid for the field."""
    if isinstance(spec, list):
        raise ValueError(
            f"pbt: {name}[{key!r}] is a list of choices; PBT perturbs numbers, so give a range "
            f"(low, high) or (low, high, 'log'), got {spec!r}")
    low, high, log = parse_range(spec, f"pbt: {name}[{key!r}]")
    for bound in spec[:2]:
        try:
            validate_hparams(HParams(**{key: float(bound)}))
        except ValueError as err:
            raise ValueError(f"pbt: {name}[{key!r}] = {spec!r} leaves the field's valid values: {err}"
                             ) from None
    return Range(key, low, high, log)


def _check_key(key: Any, name: str) -> None:
    if key in HPARAM_FIELDS:
        return
    if key in STATIC_FIELDS:
        raise ValueError(
            f"pbt: {name}[{key!r}] is a static PPOConfig field; PBT evolves HParams fields only "
            f"(traced, so all members share one compile): {', '.join(HPARAM_FIELDS)}")
    raise ValueError(f"pbt: unknown key {key!r} in {name}; valid keys (HParams fields): "
                     f"{', '.join(HPARAM_FIELDS)}")


def parse_space(space: Any, name: str = "space") -> tuple[Range, ...]:
    """A space dict (as `random_search` takes, ranges only) -> one Range per key, in order."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"pbt: {name} must be a non-empty dict of HParams field -> (low, high) or "
                         f"(low, high, 'log'), got {space!r}")
    for key in space:
        _check_key(key, name)
    return tuple(_parse_range(key, spec, name) for key, spec in space.items())


def parse_init_space(init_space: Any, ranges: tuple[Range, ...]) -> tuple[Range, ...]:
    """Where the first generation is drawn: `init_space`'s range per field, else the space's.

    Every init range must lie inside the space's range for its field.
    """
    if init_space is None:
        return ranges
    init = {r.field: r for r in parse_space(init_space, "init_space")}
    evolved = {r.field: r for r in ranges}
    for key, r in init.items():
        if key not in evolved:
            raise ValueError(f"pbt: init_space[{key!r}] is not in space (evolved fields: "
                             f"{', '.join(evolved)}); draw the start of evolved fields only")
        outer = evolved[key]
        if r.low < outer.low or r.high > outer.high:
            raise ValueError(f"pbt: init_space[{key!r}] = ({r.low:g}, {r.high:g}) is not inside "
                             f"space[{key!r}] = ({outer.low:g}, {outer.high:g})")
    return tuple(init.get(r.field, r) for r in ranges)
