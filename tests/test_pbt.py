"""ppo_jax.pbt: the exploit/explore step on a hand-made population, equivalence with
vmapped single runs, one compile, 4 devices == 1, resume, results, bad input.

Budgets are tiny (2 envs x 16 steps, 3 updates): these tests check plumbing and
equivalence, not learning (test_pbt_learns_cartpole_from_poor_learning_rates does).
Compiles dominate, so the main PBT run is a module fixture shared by the tests.
"""

from __future__ import annotations

import functools
import json
import os
import textwrap
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import CompileCounter, RecordingHook, run_on_four_cpu_devices

import ppo_jax
from ppo_jax import PBTResult
from ppo_jax.analysis.statistics import final_return
from ppo_jax.checkpoint import CheckpointError
from ppo_jax.config.hparams import HPARAM_FIELDS
from ppo_jax.core.context import make_context
from ppo_jax.core.iteration import init_state
from ppo_jax.core.types import TrainState
from ppo_jax.parallel import compile as population
from ppo_jax.pbt import exploit
from ppo_jax.pbt.run import mean_return
from ppo_jax.train import seed_keys

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = ppo_jax.PPOConfig(
    env="CartPole-v1", total_timesteps=96, num_envs=2, num_steps=16, num_minibatches=2,
    update_epochs=1, hidden_sizes=(8,),
)  # 3 updates
SPACE = {"learning_rate": (1e-4, 1e-2, "log"), "ent_coef": (0.0, 0.05)}
RUN = dict(population=4, ready_every=1, num_seeds=2, seed=0, truncation=0.5)

FITNESS_TRACES: list[int] = []


def counting_fitness(metrics: dict) -> jax.Array:
    """The default fitness, counting how often it is traced."""
    FITNESS_TRACES.append(1)
    return mean_return(metrics)


HOOK = RecordingHook()  # one hook object: the same static argument for every run here


@pytest.fixture(scope="module")
def result() -> PBTResult:
    population.clear_cache()
    FITNESS_TRACES.clear()
    HOOK.reports.clear()
    return ppo_jax.pbt(CONFIG, SPACE, **RUN, progress=HOOK, fitness=counting_fitness)


def assert_close(actual, expected, where: str) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-6,
                               equal_nan=True, err_msg=where)


# ------------------------------------------------- exploit/explore by hand ---
P = 8
RANGES = (exploit.Range("learning_rate", 1e-4, 1e-2, log=True), exploit.Range("clip_eps", 0.1, 0.3))


def make_hand_population(config: ppo_jax.PPOConfig):
    """8 members whose every leaf differs by member: state leaves and hparams."""
    ctx = make_context(config)
    hparams = ppo_jax.HParams(
        learning_rate=jnp.geomspace(1e-4, 1e-2, P, dtype=jnp.float32),
        clip_eps=jnp.linspace(0.1, 0.3, P, dtype=jnp.float32),
        gamma=jnp.linspace(0.9, 0.99, P, dtype=jnp.float32),  # not evolved: copied as is
    )
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), (P,)), hparams)
    members = jax.jit(jax.vmap(functools.partial(init_state, ctx)))(
        jax.random.split(jax.random.key(0), P), hparams)
    marker = jnp.arange(P, dtype=jnp.float32)

    def mark(x):  # member p's leaves all carry p
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x
        shape = (P,) + (1,) * (x.ndim - 1)
        return (x + marker.reshape(shape).astype(x.dtype) * 100).astype(x.dtype)

    members = members.replace(**{f: jax.tree.map(mark, getattr(members, f))
                                 for f in exploit.COPIED_FIELDS + ("env_state", "obs", "memory")})
    return members, hparams


@pytest.fixture(scope="module")
def hand_population():
    return make_hand_population(CONFIG)


@pytest.fixture(scope="module")
def gru_hand_population():
    """The same with a GRU agent: its `memory` (the envs' carry) is a state field too."""
    return make_hand_population(CONFIG.replace(network="gru", rnn_size=4))


FITNESS = np.array([5.0, 1.0, 7.0, 3.0, 8.0, np.nan, 6.0, 2.0], np.float32)
# Worst to best: 5 (NaN), 1, 7, 3, 0, 6, 2, 4. Truncation 0.25 -> 2 replaced.
BOTTOM, TOP = {5, 1}, {2, 4}


def _leaves(tree, p):
    return [np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x)[p] for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("network", ["mlp", "gru"])
@pytest.mark.parametrize("resample_probability", [0.0, 1.0])
def test_exploit_replaces_bottom_copies_state_and_explores_in_bounds(request, network,
                                                                     resample_probability):
    members, hparams = request.getfixturevalue(
        {"mlp": "hand_population", "gru": "gru_hand_population"}[network])
    if network == "gru":  # a member's carry is its own, so a copy would show
        hidden = np.asarray(members.memory.hidden)
        assert hidden.shape == (P, CONFIG.num_envs, 4) and len({h.tobytes() for h in hidden}) == P
    else:
        assert members.memory is None
    settings = exploit.ExploitSettings(0.25, (0.8, 1.2), resample_probability)
    step = jax.jit(functools.partial(exploit.exploit_explore, ranges=RANGES, settings=settings))
    seen_parents = set()
    for k in range(6):
        new_members, new_hp, parents = step(jax.random.key(k), members, hparams, jnp.asarray(FITNESS))
        parents = np.asarray(parents)
        replaced = {p for p in range(P) if parents[p] != p}
        assert replaced == BOTTOM, parents
        assert {int(parents[p]) for p in BOTTOM} <= TOP
        seen_parents |= {int(parents[p]) for p in BOTTOM}
        for p in range(P):
            source = int(parents[p])
            for name in exploit.COPIED_FIELDS:  # every copied field is the parent's
                for a, b in zip(_leaves(getattr(new_members, name), p),
                                _leaves(getattr(members, name), source)):
                    np.testing.assert_array_equal(a, b, err_msg=f"member {p} field {name}")
            for name in exploit.KEPT_FIELDS:  # envs, random stream and carry stay the member's own
                for a, b in zip(_leaves(getattr(new_members, name), p),
                                _leaves(getattr(members, name), p)):
                    np.testing.assert_array_equal(a, b, err_msg=f"member {p} field {name}")
            # The carry of the envs' episodes under way goes with the envs (exploit.py), whatever
            # the lists above say; the parents' carries differ from it (checked above).
            for a, b in zip(_leaves(new_members.memory, p), _leaves(members.memory, p)):
                np.testing.assert_array_equal(a, b, err_msg=f"member {p} memory")
            # Not evolved: the parent's value exactly.
            assert float(new_hp.gamma[p]) == float(hparams.gamma[source])
            for r in RANGES:
                new, old = float(getattr(new_hp, r.field)[p]), float(getattr(hparams, r.field)[source])
                assert np.float32(r.low) <= new <= np.float32(r.high)  # float32 bounds
                if p not in replaced:
                    assert new == old
                elif resample_probability == 0.0:  # a perturbation, clipped to the range
                    assert any(np.isclose(new, np.clip(old * f, r.low, r.high), rtol=1e-6)
                               for f in (0.8, 1.2)), (r.field, old, new)
    assert seen_parents == TOP  # both top members get picked over a few draws


def test_exploit_clips_perturbations_at_the_bounds(hand_population):
    """Members at the range ends pushed outward stay at the ends."""
    members, hparams = hand_population
    at_top = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.full((P,), 1e-2, jnp.float32) if path[0].name == "learning_rate" else x,
        hparams)
    settings = exploit.ExploitSettings(0.25, (1.5, 1.5), 0.0)
    _, new_hp, parents = exploit.exploit_explore(jax.random.key(0), members, at_top,
                                                 jnp.asarray(FITNESS), ranges=RANGES, settings=settings)
    replaced = np.asarray(parents) != np.arange(P)
    np.testing.assert_allclose(np.asarray(new_hp.learning_rate)[replaced], 1e-2, rtol=1e-6)


def test_no_truncation_keeps_everyone(hand_population):
    members, hparams = hand_population
    settings = exploit.ExploitSettings(0.0, (0.8, 1.2), 0.5)
    new_members, new_hp, parents = exploit.exploit_explore(
        jax.random.key(0), members, hparams, jnp.asarray(FITNESS), ranges=RANGES, settings=settings)
    assert np.asarray(parents).tolist() == list(range(P))
    for a, b in zip(jax.tree.leaves(new_hp), jax.tree.leaves(hparams)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_leaves(new_members.params, slice(None)), _leaves(members.params, slice(None))):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------- the whole run ---
def test_result_shapes_and_recorded_lineage(result):
    S, Pn, G, U = 2, 4, 3, 3
    assert result.metrics["episode_return"].shape == (S, Pn, U)
    assert set(result.metrics) >= {"episode_return", "learning_rate", "timesteps"}
    assert result.schedules["learning_rate"].shape == (S, Pn, G)
    assert result.parents.shape == result.fitness.shape == (S, Pn, G)
    assert result.complete and result.generations_done == G
    assert (result.parents[:, :, 0] == np.arange(Pn)).all()  # nobody copies before generation 1
    for s in range(S):
        for g in range(1, G):
            # Truncation 0.5 of 4: the 2 worst of the previous generation copy one of the 2 best.
            order = np.argsort(np.where(np.isnan(result.fitness[s, :, g - 1]), -np.inf,
                                        result.fitness[s, :, g - 1]), kind="stable")
            parents = result.parents[s, :, g]
            assert {p for p in range(Pn) if parents[p] != p} == set(order[:2].tolist())
            assert {int(parents[p]) for p in order[:2]} <= set(order[2:].tolist())
            for p in range(Pn):  # a copy trains with moved copies of its parent's hparams
                source = parents[p]
                for key, (low, high, *_) in SPACE.items():
                    value = result.hparams[key][s, p, g]
                    assert np.float32(low) <= value <= np.float32(high)
                    if source == p:
                        assert value == result.hparams[key][s, p, g - 1]
            # The fitness is the mean return of the generation (default fitness).
            window = result.metrics["episode_return"][s, :, g * RUN["ready_every"]:(g + 1) * RUN["ready_every"]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # members with no episode: NaN
                assert_close(result.fitness[s, :, g], np.nanmean(window, axis=-1), f"fitness {s},{g}")
    lr_start = result.hparams["learning_rate"][:, :, 0]
    assert_close(result.metrics["learning_rate"][:, :, 0], lr_start, "first update's rate")


def test_copied_member_keeps_the_parents_schedule_position(result):
    """anneal_lr: the rate at update u is lr * (1 - u / N) for every member, copies included."""
    assert CONFIG.anneal_lr
    N = CONFIG.num_updates
    for u in range(N):
        g = u // RUN["ready_every"]
        expected = result.hparams["learning_rate"][:, :, g] * (1 - u / N)
        assert_close(result.metrics["learning_rate"][:, :, u], expected, f"update {u}")


def test_one_compile_for_the_whole_run_and_none_again(result):
    """3 generations, one program: the generation body is traced once (plus once by the
    fitness check before compiling), and a second run with another seed reuses it."""
    assert result.num_compiles == 1
    assert len(FITNESS_TRACES) == 2
    with CompileCounter() as compiles:
        again = ppo_jax.pbt(CONFIG, SPACE, **{**RUN, "seed": 7}, fitness=counting_fitness,
                            progress=HOOK)
    assert again.num_compiles == 0 and compiles.count == 0
    assert len(FITNESS_TRACES) == 2  # not traced again (jax caches the check's eval_shape too)
    assert not np.array_equal(again.hparams["learning_rate"], result.hparams["learning_rate"])


def test_progress_reports_every_update_for_the_whole_population(result):
    reports = HOOK.reports[: CONFIG.num_updates]  # the fixture's run reported first
    assert [r.update for r in reports] == list(range(1, CONFIG.num_updates + 1))
    assert all(r.num_agents == RUN["num_seeds"] * RUN["population"] for r in reports)
    assert all(r.total_updates == CONFIG.num_updates for r in reports)


def member_keys(seed: int, num_seeds: int, population: int) -> jax.Array:
    """Run s member p's key, as pbt documents it: [num_seeds, population]."""
    runs = seed_keys(seed, num_seeds)
    return jnp.stack([jax.random.split(jax.random.split(k, 3)[1], population) for k in runs])


def test_no_copying_equals_a_sweep_of_the_same_members():
    """truncation=0: the generations are then just chunks of each member's own run, so
    every member equals vmapped train(key, hparams) with its key and drawn hparams."""
    res = ppo_jax.pbt(CONFIG, SPACE, **{**RUN, "truncation": 0.0, "seed": 3})
    assert (res.parents == np.arange(4)[:, None]).all()
    for key in SPACE:  # nothing moved
        assert (res.hparams[key] == res.hparams[key][:, :, :1]).all()
    hparams = ppo_jax.HParams(**{f: jnp.asarray(res.hparams[f][:, :, 0].reshape(-1)) for f in HPARAM_FIELDS})
    keys = member_keys(3, 2, 4).reshape(-1)
    outs = jax.jit(jax.vmap(ppo_jax.make_train(CONFIG)))(keys, hparams)
    for name, value in outs.metrics.items():
        assert_close(res.metrics[name], np.asarray(value).reshape(2, 4, -1), name)
    for a, b in zip(jax.tree.leaves(res.state.members.params), jax.tree.leaves(outs.state.params)):
        assert_close(a, np.asarray(b).reshape(a.shape), "final params")


def test_resume_equals_an_uninterrupted_run(result, tmp_path):
    first = ppo_jax.pbt(CONFIG, SPACE, **RUN, fitness=counting_fitness, max_generations=1)
    assert first.generations_done == 1 and not first.complete
    first.save(tmp_path / "pbt")
    first.save(tmp_path / "pbt")  # saving again replaces the save
    loaded = PBTResult.load(tmp_path / "pbt")
    assert loaded.generations_done == 1
    with pytest.raises(ValueError, match="differ from it: seed"):
        ppo_jax.pbt(CONFIG, SPACE, **{**RUN, "seed": 1}, fitness=counting_fitness, resume=loaded)
    with pytest.raises(ValueError, match="differ from it: fitness"):
        ppo_jax.pbt(CONFIG, SPACE, **RUN, resume=loaded)
    resumed = ppo_jax.pbt(CONFIG, SPACE, **RUN, fitness=counting_fitness, resume=loaded)
    assert resumed.complete
    for name in result.metrics:
        assert_close(resumed.metrics[name], result.metrics[name], name)
    for key in HPARAM_FIELDS:
        assert_close(resumed.hparams[key], result.hparams[key], key)
    np.testing.assert_array_equal(resumed.parents, result.parents)
    assert_close(resumed.fitness, result.fitness, "fitness")
    for a, b in zip(jax.tree.leaves(resumed.state.members.params),
                    jax.tree.leaves(result.state.members.params)):
        assert_close(a, b, "final params")
    with pytest.raises(ValueError, match="has done all 3 generations"):
        ppo_jax.pbt(CONFIG, SPACE, **RUN, fitness=counting_fitness, resume=resumed)


def test_load_refuses_a_folder_that_is_not_a_pbt_run(tmp_path):
    with pytest.raises(CheckpointError, match="not a saved PBT run"):
        PBTResult.load(tmp_path)


_SHARDED_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, {root!r})
    import ppo_jax
    assert jax.device_count() == 4, jax.devices()
    config = ppo_jax.PPOConfig(**{config!r})
    res = ppo_jax.pbt(config, {space!r}, **{run!r})
    np.savez({path!r}, parents=res.parents, fitness=res.fitness,
             **{{"m_" + k: v for k, v in res.metrics.items()}},
             **{{"h_" + k: v for k, v in res.hparams.items()}})
    leaf = jax.tree.leaves(res.state.members.params)[0]
    print(json.dumps({{"devices": len(leaf.sharding.device_set),
                       "shards": [list(s.data.shape) for s in leaf.addressable_shards],
                       "shape": list(leaf.shape), "num_compiles": res.num_compiles}}))
""")


def test_four_devices_equal_one(result, tmp_path):
    config = {k: getattr(CONFIG, k) for k in ("total_timesteps", "num_envs", "num_steps",
                                              "num_minibatches", "update_epochs", "hidden_sizes")}
    script = _SHARDED_SCRIPT.format(root=str(REPO_ROOT), config=config, space=SPACE, run=RUN,
                                    path=str(tmp_path / "pbt.npz"))
    info = run_on_four_cpu_devices(script)
    assert info["devices"] == 4 and info["num_compiles"] == 1
    assert info["shards"] == [[2, 1] + info["shape"][2:]] * 4  # members split, seeds whole
    data = dict(np.load(tmp_path / "pbt.npz"))
    np.testing.assert_array_equal(data["parents"], result.parents)
    assert_close(data["fitness"], result.fitness, "fitness")
    for name in result.metrics:
        assert_close(data["m_" + name], result.metrics[name], name)
    for key in HPARAM_FIELDS:
        assert_close(data["h_" + key], result.hparams[key], key)


# ----------------------------------------------------------------- results ---
def test_to_dataframe_and_lineage_frame(result):
    frame = result.to_dataframe()
    assert len(frame) == 2 * 4 * 3
    assert list(frame.columns[:7]) == ["run", "member", "update", "generation", "parent",
                                       "learning_rate", "ent_coef"]
    assert "learning_rate_at_update" in frame and "episode_return" in frame
    row = frame[(frame["run"] == 1) & (frame["member"] == 2) & (frame["update"] == 3)].iloc[0]
    assert row.generation == 2 and row.parent == result.parents[1, 2, 2]
    assert row.learning_rate == pytest.approx(result.hparams["learning_rate"][1, 2, 2])
    assert row.episode_return == pytest.approx(result.metrics["episode_return"][1, 2, 2], nan_ok=True)
    lineage = result.lineage_frame()
    assert len(lineage) == 2 * 3 * 4
    assert (lineage.copied == (lineage.parent != lineage.member)).all()
    assert lineage.copied.sum() == 2 * 2 * 2  # 2 runs x 2 exploit steps x 2 replaced


def test_best_follows_the_lineage(result):
    best = result.best()
    fit = result.fitness[:, :, -1]
    assert best.fitness == pytest.approx(np.nanmax(fit))
    assert result.fitness[best.run, best.member, -1] == pytest.approx(best.fitness)
    slots = best.lineage
    assert slots[-1] == best.member
    for g in range(len(slots) - 1, 0, -1):
        assert slots[g - 1] == result.parents[best.run, slots[g], g]
        assert best.schedule["learning_rate"][g] == result.hparams["learning_rate"][best.run, slots[g], g]
    assert best.config.hparams.learning_rate == pytest.approx(best.schedule["learning_rate"][-1])
    leaf = jax.tree.leaves(best.state.params)[0]
    expected = jax.tree.leaves(result.state.members.params)[0][best.run, best.member]
    np.testing.assert_array_equal(leaf, expected)
    assert ppo_jax.evaluate(best.config, best.state, jax.random.key(0), num_episodes=2).shape == (2,)
    per_run = result.best(run=1)
    assert per_run.run == 1
    assert final_return(result.metrics["episode_return"]).shape == (2, 4)


def test_plot_and_repr(result, tmp_path):
    result.plot(tmp_path / "pbt.png")
    assert (tmp_path / "pbt.png").stat().st_size > 5000
    text = repr(result)
    assert len(text.splitlines()) <= 6 and "2 run(s) x 4 members" in text and "best" in text


# --------------------------------------------------------------- bad input ---
def _wrong_shape(metrics):
    return metrics["episode_return"]  # [P, K], not [P]


def _scalar(metrics):
    return metrics["episode_return"].mean()


def _broken(metrics):
    return metrics["no_such_metric"].mean(-1)


@pytest.mark.parametrize("changes, match", [
    ({"space": {"lr": (1e-4, 1e-3)}}, "unknown key 'lr' in space; valid keys"),
    ({"space": {"num_envs": (2, 8)}}, "static PPOConfig field; PBT evolves HParams fields only"),
    ({"space": {"learning_rate": [1e-4, 1e-3]}}, "list of choices"),
    ({"space": {"learning_rate": (1e-3, 1e-4)}}, r"must be \(low, high\)"),
    ({"space": {"gamma": (0.9, 1.5)}}, r"space\['gamma'\] .* leaves the field's valid values"),
    ({"space": {}}, "non-empty dict"),
    ({"ready_every": 2}, "ready_every=2 does not divide the run's 3 updates"),
    ({"ready_every": 3}, "leaves 1 generation"),
    ({"ready_every": 0}, "ready_every must be a positive integer"),
    ({"population": 3, "truncation": 0.25}, "population=3 is too small for truncation=0.25"),
    ({"population": 1}, "population must be >= 2"),
    ({"truncation": 0.7}, r"truncation must be a fraction in \[0, 0.5\]"),
    ({"perturb_factors": (0.8,)}, "perturb_factors must be two positive numbers"),
    ({"resample_probability": 2.0}, r"resample_probability must be in \[0, 1\]"),
    ({"fitness": _wrong_shape}, r"one number per member, float \[population\] = \[4\].*float32\[4, 1\]"),
    ({"fitness": _scalar}, r"one number per member.*float32\[\]"),
    ({"fitness": _broken}, "fitness failed on one generation's metrics"),
    ({"fitness": "return"}, "fitness must be a function"),
    ({"init_space": {"learning_rate": (1e-5, 1e-4)}}, r"init_space\['learning_rate'\] .* not inside"),
    ({"init_space": {"gamma": (0.9, 0.95)}}, "init_space\\['gamma'\\] is not in space"),
    ({"num_seeds": 0}, "num_seeds must be a positive integer"),
    ({"devices": []}, "devices must be a non-empty list"),
    ({"max_generations": 0}, "max_generations must be a positive integer"),
    ({"resume": "runs/pbt"}, "resume must be a PBTResult"),
])
def test_bad_input_raises_before_compiling(changes, match):
    kwargs = {"space": SPACE, **RUN, **changes}
    space = kwargs.pop("space")
    with CompileCounter() as compiles, pytest.raises(ValueError, match=match):
        ppo_jax.pbt(CONFIG, space, **kwargs)
    assert compiles.count == 0


# --------------------------------------------------------------------- CLI ---
CLI_SET = ["--set", "total_timesteps=96", "--set", "num_envs=2", "--set", "num_steps=16",
           "--set", "num_minibatches=2", "--set", "update_epochs=1", "--set", "hidden_sizes=8",
           "--set", "activation=tanh", "--set", "learning_rate=2.5e-4"]  # CONFIG: the defaults, not the preset's
CLI_RUN = [*CLI_SET, "--space", "learning_rate=1e-4:1e-2:log", "--space", "ent_coef=0:0.05",
           "--population", "4", "--ready-every", "1", "--num-seeds", "2", "--seed", "0",
           "--truncation", "0.5", "--no-progress"]


def test_cli_writes_outputs_refuses_a_used_folder_and_resumes(result, tmp_path, capsys):
    """Two generations, then --resume for the third: the same run as the fixture's."""
    from ppo_jax.cli import pbt as cli
    from ppo_jax.cli.main import run_command

    out = tmp_path / "run"
    first = run_command(["pbt", *CLI_RUN, "--max-generations", "2", "--out", str(out)])
    assert first.generations_done == 2 and "continue with" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == sorted(cli.RUN_FILES)
    with pytest.raises(SystemExit) as exit_info:  # not empty, no --overwrite: refused, untouched
        run_command(["pbt", *CLI_RUN, "--out", str(out)])
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_command(["pbt", "--resume", str(out), "--seed", "3"])
    assert "drop --seed" in capsys.readouterr().err
    final = run_command(["pbt", "--resume", str(out), "--no-progress"])
    assert final.complete
    frame = pd.read_csv(out / "pbt.csv")
    expected = result.to_dataframe()
    assert list(frame.columns) == list(expected.columns)
    for column in ("parent", "learning_rate", "fitness", "episode_return", "value_loss"):
        assert_close(frame[column].to_numpy(), expected[column].to_numpy(), column)
    best = json.loads((out / "best.json").read_text())
    assert (best["run"], best["member"]) == (result.best().run, result.best().member)
    assert len(best["schedule"]["learning_rate"]) == 3
    assert len(pd.read_csv(out / "lineage.csv")) == 2 * 3 * 4
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):  # --overwrite never deletes files it did not write
        run_command(["pbt", *CLI_RUN, "--out", str(out), "--overwrite"])
    assert "never deleted" in capsys.readouterr().err and (out / "pbt.csv").exists()


def test_cli_rejects_bad_flags_before_training(tmp_path, capsys):
    from ppo_jax.cli.main import run_command

    for argv, message in [
        ([*CLI_SET, "--space", "learning_rate=1e-4|1e-3"], "not choices"),
        ([*CLI_SET, "--space", "num_envs=2:8"], "static PPOConfig field"),
        ([*CLI_SET], "give at least one --space"),
        ([*CLI_SET, "--space", "learning_rate=1e-4:1e-2", "--ready-every", "2"], "does not divide"),
        ([*CLI_SET, "--space", "learning_rate=1e-4:1e-2", "--perturb", "0.8"], "--perturb takes two"),
    ]:
        with CompileCounter() as compiles, pytest.raises(SystemExit) as exit_info:
            run_command(["pbt", *argv, "--out", str(tmp_path / "x")])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err, argv
        assert compiles.count == 0
    assert not (tmp_path / "x").exists()


def test_every_train_state_array_field_is_either_copied_or_kept():
    """A field added to TrainState later must be placed on one side, not silently dropped."""
    import dataclasses

    array_fields = {f.name for f in dataclasses.fields(TrainState) if f.metadata.get("pytree_node", True)}
    assert set(exploit.COPIED_FIELDS) | set(exploit.KEPT_FIELDS) == array_fields
    assert not set(exploit.COPIED_FIELDS) & set(exploit.KEPT_FIELDS)


def test_logger_gets_one_curve_per_member_equal_to_the_metrics(tmp_path):
    """pbt(logger=...): curves seed<s>/member<p>, each equal to that member's metrics
    (learning_rate included: it follows the member's evolving hyperparameters)."""
    from ppo_jax.tracking.loggers import JsonlLogger, read_jsonl

    logger = JsonlLogger(tmp_path / "pbt.jsonl", run_name="pbt")
    res = ppo_jax.pbt(CONFIG, SPACE, **RUN, logger=logger)
    logger.close()
    hparams, frame = read_jsonl(tmp_path / "pbt.jsonl")
    num_seeds, population = RUN["num_seeds"], RUN["population"]
    assert sorted(hparams) == sorted(f"seed{s}/member{p}" for s in range(num_seeds)
                                     for p in range(population))
    assert hparams["seed1/member2"]["member"] == 2 and hparams["seed1/member2"]["seed_index"] == 1
    for s in range(num_seeds):
        for p in range(population):
            rows = frame[frame["curve"] == f"seed{s}/member{p}"].set_index("update").sort_index()
            assert list(rows.index) == [1, 2, 3]
            for name in ("learning_rate", "timesteps", "value_loss", "entropy"):
                np.testing.assert_allclose(rows[name].to_numpy(), np.asarray(res.metrics[name][s, p]),
                                           rtol=1e-6, err_msg=f"seed{s}/member{p} {name}")
