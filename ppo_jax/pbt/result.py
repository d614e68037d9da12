"""PBTResult: what `pbt` returns: metrics, hyperparameter schedules, lineage, final state.

Axes: S = num_seeds (independent PBT runs), P = population (member slots),
G = generations done, U = updates done (G * ready_every). A member slot keeps
its index for the whole run; when it copies another member, its weights (and
hyperparameters) come from that member: `parents[s, p, g]` is the slot whose
state member p started generation g from (p itself when it was kept).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ppo_jax.analysis.frames import metric_column, update_numbers
from ppo_jax.analysis.statistics import final_return
from ppo_jax.checkpoint import CheckpointError
from ppo_jax.checkpoint import load as load_state
from ppo_jax.checkpoint import save as save_state
from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams
from ppo_jax.core.types import TrainState
from ppo_jax.pbt.exploit import ExploitSettings
from ppo_jax.pbt.space import parse_init_space, parse_space
from ppo_jax.pbt.state import PBTState, fitness_name
from ppo_jax.util.files import atomic_write

FORMAT = "ppo_jax.pbt"
FORMAT_VERSION = 1


class PBTBest(NamedTuple):
    """The final best member of a PBT run (`PBTResult.best`).

    run, member: its indices; fitness: its last generation's fitness.
    config: the base config with the member's final hparams.
    state: its TrainState (one agent: `make_policy`, `evaluate`, `save` take it).
    schedule: evolved field -> float32 [G], the hparams the agent's weights were
      trained with in each generation, following its lineage back through copies.
    lineage: int [G], the member slot that held those weights in each generation.
    """

    run: int
    member: int
    fitness: float
    config: PPOConfig
    state: TrainState
    schedule: dict[str, np.ndarray]
    lineage: np.ndarray


def _space_to_json(space: dict | None) -> dict | None:
    return None if space is None else {k: list(v) for k, v in space.items()}


def _space_from_json(space: dict | None) -> dict | None:
    return None if space is None else {k: tuple(v) for k, v in space.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class PBTResult:
    """What `pbt` returns (see the module docstring for the axes).

    Attributes:
      config: the run's `PPOConfig`.
      space: the explore ranges, as given to `pbt`.
      init_space: the initial sampling ranges, as given to `pbt`.
      population: members per seed.
      ready_every: updates per generation.
      num_seeds: independent PBT runs.
      seed: the run's integer seed.
      settings: the truncation and explore settings.
      fitness_name: the metric members are ranked by.
      metrics: dict of float32 [S, P, U]: each member slot's per-update metrics.
      hparams: every HParams field -> float32 [S, P, G]: the value each slot
        trained with in each generation (`schedules`: only the evolved fields).
      parents: int32 [S, P, G]: whose state each slot started generation g from.
      fitness: float32 [S, P, G]: each slot's fitness at the end of generation g.
      state: the final `PBTState` (leaves [S, P, ...]): what a resume continues.
      num_compiles: compilations this call needed (0 or 1).
    """

    config: PPOConfig
    space: dict
    init_space: dict | None
    population: int
    ready_every: int
    num_seeds: int
    seed: int
    settings: ExploitSettings
    fitness_name: str
    metrics: dict[str, np.ndarray]
    hparams: dict[str, np.ndarray]
    parents: np.ndarray
    fitness: np.ndarray
    state: Any
    num_compiles: int

    # --- shape of the run ---
    @property
    def num_generations(self) -> int:
        """Generations of the whole run (config.num_updates / ready_every)."""
        return self.config.num_updates // self.ready_every

    @property
    def generations_done(self) -> int:
        """Generations run so far, G (fewer than `num_generations` for an unfinished run)."""
        return self.parents.shape[2]

    @property
    def complete(self) -> bool:
        """Whether every generation has run (a complete run cannot be resumed)."""
        return self.generations_done == self.num_generations

    @property
    def evolved(self) -> list[str]:
        """The evolved HParams fields, in `space` order."""
        return list(self.space)

    @property
    def schedules(self) -> dict[str, np.ndarray]:
        """Evolved field -> float32 [S, P, G]: each slot's value per generation."""
        return {k: self.hparams[k] for k in self.evolved}

    def __repr__(self) -> str:
        shape = self.metrics["episode_return"].shape
        lines = [
            f"PBTResult({self.config.env}: {self.num_seeds} run(s) x {self.population} members, "
            f"{self.generations_done}/{self.num_generations} generations of {self.ready_every} "
            f"updates, seed {self.seed}, {self.num_compiles} compile(s)",
            f"  evolved: {', '.join(f'{k} in {tuple(v)}' for k, v in self.space.items())}",
            f"  metrics: float32 {list(shape)} each; schedules, parents, fitness: [{shape[0]}, "
            f"{shape[1]}, {self.generations_done}]",
        ]
        if self.generations_done:
            best = self.best()
            lines.append(f"  best: run {best.run} member {best.member}, last fitness {best.fitness:.4g}, "
                         f"final hparams " + ", ".join(f"{k}={v[-1]:.4g}" for k, v in best.schedule.items()))
        lines.append("  .best(), .to_dataframe(), .lineage_frame(), .plot(), .save(path))")
        return "\n".join(lines)

    # --- lineage and the best member ---
    def lineage(self, run: int, member: int) -> np.ndarray:
        """int [G]: the slot holding member `member`'s final weights in each generation.

        Walks back from the last generation: in generation g the weights were
        in slot a[g]; that slot started g from `parents[run, a[g], g]`.
        """
        slots = np.empty(self.generations_done, np.int64)
        slot = member
        for g in range(self.generations_done - 1, -1, -1):
            slots[g] = slot
            slot = int(self.parents[run, slot, g])
        return slots

    def final_fitness(self) -> np.ndarray:
        """float [S, P]: each slot's fitness in the last generation done."""
        return self.fitness[:, :, -1].astype(np.float64)

    def final_returns(self) -> np.ndarray:
        """float [S, P]: each slot's final return (`statistics.final_return` over the whole run)."""
        return final_return(self.metrics["episode_return"])

    def best(self, run: int | None = None) -> PBTBest:
        """The member with the highest last-generation fitness (in `run`, or over all runs)."""
        scores = self.final_fitness()
        if run is not None:
            if not 0 <= run < self.num_seeds:
                raise ValueError(f"PBTResult.best: run must be in [0, {self.num_seeds}), got {run}")
            scores = np.where(np.arange(self.num_seeds)[:, None] == run, scores, np.nan)
        if np.all(np.isnan(scores)):
            raise ValueError("PBTResult.best: no member has a finite fitness (no episode completed)")
        run, member = np.unravel_index(int(np.nanargmax(scores)), scores.shape)
        run, member = int(run), int(member)
        slots = self.lineage(run, member)
        generations = np.arange(self.generations_done)
        schedule = {k: self.hparams[k][run, slots, generations] for k in self.evolved}
        final = HParams(**{f: float(self.hparams[f][run, member, -1]) for f in HPARAM_FIELDS})
        state = jax.tree.map(lambda x: x[run, member], self.state.members)
        return PBTBest(run, member, float(scores[run, member]), self.config.replace(hparams=final),
                       state, schedule, slots)

    # --- tidy frames ---
    def to_dataframe(self) -> pd.DataFrame:
        """Tidy frame: one row per (run, member, update).

        Columns: run, member, update (from 1), generation (from 0), parent (the
        slot whose state the member started this generation from), the evolved
        fields (values in effect), fitness (of the generation), then the metrics
        (`learning_rate` / `kl_coef` per update as `*_at_update`, as in sweeps).
        """
        S, P, U = self.metrics["episode_return"].shape
        K = self.ready_every
        run, member, update = np.meshgrid(np.arange(S), np.arange(P), update_numbers(U), indexing="ij")
        generation = (update - 1) // K
        columns = {"run": run.ravel(), "member": member.ravel(), "update": update.ravel(),
                   "generation": generation.ravel()}
        per_generation = lambda a: np.repeat(a, K, axis=2).ravel()
        columns["parent"] = per_generation(self.parents)
        columns.update({k: per_generation(self.hparams[k]) for k in self.evolved})
        columns["fitness"] = per_generation(self.fitness)
        columns.update({metric_column(m): v.ravel() for m, v in self.metrics.items()})
        return pd.DataFrame(columns)

    def lineage_frame(self) -> pd.DataFrame:
        """One row per (run, generation, member): parent, copied (bool), fitness, evolved fields."""
        S, P, G = self.parents.shape
        run, member, generation = np.meshgrid(np.arange(S), np.arange(P), np.arange(G), indexing="ij")
        frame = pd.DataFrame({"run": run.ravel(), "generation": generation.ravel(),
                              "member": member.ravel(), "parent": self.parents.ravel()})
        frame["copied"] = frame["parent"] != frame["member"]
        frame["fitness"] = self.fitness.ravel()
        for k in self.evolved:
            frame[k] = self.hparams[k].ravel()
        return frame.sort_values(["run", "generation", "member"], kind="stable").reset_index(drop=True)

    # --- plot ---
    def plot(self, path: str | os.PathLike | None = None, run: int = 0) -> Any:
        """Figure: one panel per evolved field (each slot's value per generation, copies
        marked), then every member's episode return over env steps and the best member's.

        Saved to `path` when given; returns the matplotlib Figure.
        """
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        evolved = self.evolved
        fig, axes = plt.subplots(len(evolved) + 1, 1, figsize=(7, 2.2 * (len(evolved) + 1)),
                                 sharex=True, squeeze=False)
        axes = axes[:, 0]
        steps = self.metrics["timesteps"][run, 0]
        starts = steps[:: self.ready_every] - self.config.batch_size  # each generation's first step
        copied = self.parents[run] != np.arange(self.population)[:, None]  # [P, G]
        for ax, key in zip(axes, evolved):
            values = self.hparams[key][run]  # [P, G]
            for p in range(self.population):
                ax.step(starts, values[p], where="post", lw=0.8, alpha=0.7)
                ax.plot(starts[copied[p]], values[p][copied[p]], "k.", ms=3)
            if self.space[key][2:] == ("log",):
                ax.set_yscale("log")
            ax.set_ylabel(key)
        returns = self.metrics["episode_return"][run]
        for p in range(self.population):
            axes[-1].plot(steps, returns[p], lw=0.6, alpha=0.5)
        best = self.best(run)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            axes[-1].plot(steps, np.nanmax(returns, axis=0), "k-", lw=1.2, label="best member")
        axes[-1].set_ylabel("episode return")
        axes[-1].set_xlabel("env steps per member")
        axes[-1].legend(loc="lower right", fontsize=7)
        axes[0].set_title(f"PBT on {self.config.env}, run {run}: {self.population} members, copies "
                          f"marked (.); best member {best.member}", fontsize=9)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig

    # --- checkpoint ---
    def save(self, path: str | os.PathLike) -> str:
        """Writes the run (state, history, settings) to the folder `path`; returns it absolute.

        The new folder is written beside `path` and swapped in only when
        complete, so an interrupted save leaves the previous one in place.
        """

        path = os.path.abspath(os.fspath(path))

        def write(tmp: str) -> None:
            os.makedirs(tmp)
            save_state(os.path.join(tmp, "members"), self.config, self.state.members)
            arrays = {f"metrics/{k}": v for k, v in self.metrics.items()}
            arrays.update({f"hparams/{k}": v for k, v in self.hparams.items()})
            arrays.update({f"state_hparams/{k}": np.asarray(getattr(self.state.hparams, k))
                           for k in HPARAM_FIELDS})
            arrays.update(parents=self.parents, fitness=self.fitness,
                          state_fitness=np.asarray(self.state.fitness),
                          state_key=np.asarray(jax.random.key_data(self.state.key)),
                          state_generation=np.asarray(self.state.generation))
            with open(os.path.join(tmp, "history.npz"), "wb") as f:
                np.savez(f, **arrays)
            with open(os.path.join(tmp, "pbt.json"), "w") as f:
                json.dump(self._settings_json(), f, indent=1)

        atomic_write(path, write)
        return path

    def _settings_json(self) -> dict:
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "config": self.config.to_dict(),
            "space": _space_to_json(self.space), "init_space": _space_to_json(self.init_space),
            "population": self.population, "ready_every": self.ready_every,
            "num_seeds": self.num_seeds, "seed": self.seed,
            "settings": dataclasses.asdict(self.settings), "fitness": self.fitness_name,
            "generations_done": self.generations_done,
        }

    @classmethod
    def load(cls, path: str | os.PathLike, env=None, env_params=None) -> PBTResult:
        """A saved run (`save`), ready to inspect or to pass as `pbt(..., resume=)`.

        `env`/`env_params`: the custom env instance, for a run trained on one.
        """

        path = os.fspath(path)
        try:
            with open(os.path.join(path, "pbt.json")) as f:
                meta = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path!r} is not a saved PBT run (pbt.json: {err})") from None
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path!r} is not a saved PBT run (format {meta.get('format')!r})")
        config = PPOConfig.from_dict(meta["config"])
        _, members = load_state(os.path.join(path, "members"), config, env=env, env_params=env_params)
        with np.load(os.path.join(path, "history.npz")) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
        group = lambda prefix: {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix)}
        state = PBTState(
            members=members,
            hparams=HParams(**{k: jnp.asarray(v) for k, v in group("state_hparams/").items()}),
            fitness=jnp.asarray(arrays["state_fitness"]),
            key=jax.random.wrap_key_data(jnp.asarray(arrays["state_key"])),
            generation=jnp.asarray(arrays["state_generation"]),
        )
        settings = meta["settings"]
        return cls(
            config=config, space=_space_from_json(meta["space"]),
            init_space=_space_from_json(meta["init_space"]), population=meta["population"],
            ready_every=meta["ready_every"], num_seeds=meta["num_seeds"], seed=meta["seed"],
            settings=ExploitSettings(settings["truncation"], tuple(settings["perturb_factors"]),
                                     settings["resample_probability"]),
            fitness_name=meta["fitness"], metrics=group("metrics/"), hparams=group("hparams/"),
            parents=arrays["parents"], fitness=arrays["fitness"], state=state, num_compiles=0,
        )


def check_resume(resume: Any, **given: Any) -> None:
    """ValueError unless `resume` is an unfinished PBTResult made with the `given` arguments."""

    if not isinstance(resume, PBTResult):
        raise ValueError(f"pbt: resume must be a PBTResult (e.g. PBTResult.load(path)), got "
                         f"{type(resume).__name__}")
    saved = {
        "config": resume.config, "space": parse_space(resume.space),
        "init_space": parse_init_space(resume.init_space, parse_space(resume.space)),
        "population": resume.population, "ready_every": resume.ready_every,
        "num_seeds": resume.num_seeds, "seed": resume.seed, "settings": resume.settings,
        "fitness": resume.fitness_name,
    }
    ranges = parse_space(given["space"])
    now = {**given, "space": ranges, "init_space": parse_init_space(given["init_space"], ranges),
           "fitness": fitness_name(given["fitness"])}
    differ = [name for name in saved if saved[name] != now[name]]
    if differ:
        raise ValueError(f"pbt: resume continues the saved run unchanged; these arguments differ "
                         f"from it: {', '.join(differ)}")
    if resume.complete:
        raise ValueError(f"pbt: the run to resume has done all {resume.num_generations} generations")


def concat_history(resume: PBTResult, new: dict) -> dict:
    """The resumed run's history followed by the new generations' (along G / U)."""
    join = lambda a, b: np.concatenate([a, b], axis=2)
    return {
        "metrics": {k: join(resume.metrics[k], v) for k, v in new["metrics"].items()},
        "hparams": {k: join(resume.hparams[k], v) for k, v in new["hparams"].items()},
        "parents": join(resume.parents, new["parents"]),
        "fitness": join(resume.fitness, new["fitness"]),
    }

