"""Env suites beyond gymnax, chosen by a prefix in `PPOConfig.env`: `brax/<name>`,
`navix/<id>`, `craftax/<id>`, `playground/<name>` (MuJoCo Playground), `jumanji/<id>`,
`xminigrid/<id>` (XLand-MiniGrid).

Each suite is an optional extra (`pip install -e ".[brax]"`, `.[navix]`,
`.[craftax]`, `.[playground]`, `.[jumanji]`, `.[xminigrid]`; `.[suites]` for all) and a module here
whose env follows the `ppo_jax.envs.Env` protocol: it ends episodes both ways
(terminated, truncated at its time limit), keeps the final observation and
resets itself. Suite options (`PPOConfig.env_options`) are validated here,
before anything compiles.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from ppo_jax.util.checks import check_positive_int


@dataclasses.dataclass(frozen=True)
class Suite:
    """A suite: its package, the extra that installs it, its env ids and options."""

    prefix: str
    package: str
    extra: str
    module: str  # ppo_jax.envs.suites.<module>: env_names(), OPTIONS, make(name, **options),
    # optionally check_name(name) (ValueError saying why an id is refused)

    def load(self):
        """Imports the suite's module (`ppo_jax.envs.suites.<module>`) and returns it.

        Raises:
          ValueError: the suite's package is not installed (the message names the extra).
        """
        if importlib.util.find_spec(self.package) is None:
            raise ValueError(
                f"PPOConfig.env {self.prefix}/...: the {self.package!r} package is not installed; "
                f"install the extra: pip install -e \".[{self.extra}]\" (or pip install {self.package})")
        return importlib.import_module(f"ppo_jax.envs.suites.{self.module}")


SUITES: dict[str, Suite] = {
    "brax": Suite("brax", "brax", "brax", "brax_env"),
    "navix": Suite("navix", "navix", "navix", "navix_env"),
    "craftax": Suite("craftax", "craftax", "craftax", "craftax_env"),
    "playground": Suite("playground", "mujoco_playground", "playground", "playground_env"),
    "jumanji": Suite("jumanji", "jumanji", "jumanji", "jumanji_env"),
    "xminigrid": Suite("xminigrid", "xminigrid", "xminigrid", "xminigrid_env"),
}


def split_env_id(env_id: str) -> tuple[str, str]:
    """'brax/hopper' -> ('brax', 'hopper'); ValueError for an unknown prefix, listing the valid ones."""
    prefix, _, name = env_id.partition("/")
    if prefix not in SUITES:
        raise ValueError(
            f"PPOConfig.env {env_id!r}: unknown suite prefix {prefix!r}; valid: a gymnax id (no "
            f"prefix, see ppo_jax.available_envs()) or {', '.join(p + '/<name>' for p in SUITES)}")
    return prefix, name


def check_suite_env(env_id: str, options: dict[str, Any]) -> None:
    """ValueError naming the field and the valid choices when `env_id` or its options are bad."""
    prefix, name = split_env_id(env_id)
    module = SUITES[prefix].load()
    if hasattr(module, "check_name"):  # a suite that says why an id it knows is refused
        module.check_name(name)
    names = module.env_names()
    if name not in names:
        raise ValueError(f"PPOConfig.env {env_id!r}: {prefix} has no env {name!r}; valid: "
                         f"{', '.join(prefix + '/' + n for n in names)}")
    check_options(prefix, options, module.OPTIONS)


def check_options(prefix: str, options: dict[str, Any], valid: dict[str, Callable]) -> None:
    """Each option must be one the suite knows, and pass its check."""
    for key, value in options.items():
        if key not in valid:
            raise ValueError(
                f"PPOConfig.env_options: {key!r} is not an option of the {prefix} suite; valid: "
                f"{', '.join(valid) or 'none'}")
        valid[key](value)


def make_suite_env(env_id: str, options: dict[str, Any]):
    """The `Env` protocol env for `<suite>/<name>` with `options`."""
    prefix, name = split_env_id(env_id)
    return SUITES[prefix].load().make(name, **options)


def suite_env_ids(installed_only: bool = True) -> list[str]:
    """`<suite>/<name>` ids of every suite whose package is installed."""
    ids = []
    for prefix, suite in SUITES.items():
        if importlib.util.find_spec(suite.package) is None:
            continue
        ids += [f"{prefix}/{n}" for n in suite.load().env_names()]
    return ids


def positive_int_option(field: str) -> Callable:
    """A check for a suite's `OPTIONS`: ValueError unless the option `field`'s value is a positive int."""
    def check(value):
        check_positive_int(value, f"env_options[{field!r}]", "PPOConfig")
    return check


def choice_option(field: str, choices: tuple) -> Callable:
    """A check for a suite's `OPTIONS`: ValueError unless the option `field`'s value is one of `choices`."""
    def check(value):
        if value not in choices:
            raise ValueError(f"PPOConfig.env_options[{field!r}] {value!r} is not one of "
                             f"{', '.join(map(str, choices))}")
    return check


def repeat_action(step: Callable, state, action, repeats: int):
    """`repeats` steps of a physics env with the same action: (state after them, summed reward).

    `step(state, action) -> state` for a Brax-style state with `done` and `reward`
    (Brax, MuJoCo Playground). Once a step terminates (`done`), the state is frozen and
    the later steps add no reward, so the repeat ends where the episode did.
    """
    import jax
    import jax.numpy as jnp

    if repeats == 1:
        nxt = step(state, action)
        return nxt, jnp.asarray(nxt.reward, jnp.float32)

    def body(carry, _):
        current, reward = carry
        nxt = step(current, action)
        ended = current.done > 0.5
        nxt = jax.tree.map(lambda old, new: jnp.where(ended, old, new), current, nxt)
        return (nxt, reward + jnp.where(ended, 0.0, nxt.reward)), None

    (final, reward), _ = jax.lax.scan(body, (state, jnp.zeros((), jnp.float32)), None, length=repeats)
    return final, reward
