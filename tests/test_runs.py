"""Run folders (`ppo_jax.runs`): chunks, the last K checkpoints, resume, signals, crashes.

One uninterrupted reference run (2 seeds x 8 updates in chunks of 2, module scope) is
what every interrupted run must end equal to, bit for bit: chunks are aligned to
multiples of `checkpoint_every`, so a resumed run runs the same programs on the same
states. The crash tests run a run folder in a subprocess that kills itself with SIGKILL
at a chosen point (mid-chunk, mid-checkpoint, mid-metrics), then resume it here; the
signal tests deliver a real SIGTERM/SIGINT to the training process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import CompileCounter, tiny_config

import ppo_jax
from ppo_jax.cli.main import main, run_command

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = tiny_config("CartPole-v1", num_updates=8, num_envs=4, num_steps=8, hidden_sizes=(16,))
NUM_SEEDS, SEED, EVERY, KEEP = 2, 3, 2, 2
RUN = dict(num_seeds=NUM_SEEDS, seed=SEED, checkpoint_every=EVERY, keep_checkpoints=KEEP)


class Quiet:
    """A progress hook that does nothing: a program with a progress callback compiled in.

    XLA fuses that program differently from one without a callback (float32 rounding
    differs, by ~1e-6 relative), so a run that trained partly with a callback is compared
    bit for bit with `reference_with_callback`, and resumed with this hook."""

    def __call__(self, report) -> None:
        pass


QUIET = Quiet()  # one hook: the runs that use it share one compile


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: 8 updates in 4 chunks of 2, the 2 latest checkpoints kept."""
    return ppo_jax.train_run(CONFIG, tmp_path_factory.mktemp("runs") / "full", **RUN)


@pytest.fixture(scope="module")
def reference_with_callback(tmp_path_factory):
    """The same run, compiled with a progress callback."""
    return ppo_jax.train_run(CONFIG, tmp_path_factory.mktemp("runs") / "full_callback", progress=QUIET, **RUN)


def assert_same_run(folder: Path, reference: ppo_jax.RunResult) -> None:
    """The folder's files and its latest checkpoint equal the reference run's, bit for bit,
    and its metrics hold every update exactly once."""
    loaded = ppo_jax.load_run(folder)
    assert loaded.finished and loaded.updates_done == CONFIG.num_updates
    leaves = jax.tree_util.tree_leaves_with_path(reference.state)
    for (path, want), got in zip(leaves, jax.tree.leaves(loaded.state), strict=True):
        if jax.dtypes.issubdtype(want.dtype, jax.dtypes.prng_key):
            want, got = jax.random.key_data(want), jax.random.key_data(got)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=jax.tree_util.keystr(path))
    raw = np.load(folder / "metrics.npz")
    assert set(raw.files) == set(reference.metrics)
    for name, value in reference.metrics.items():
        np.testing.assert_array_equal(raw[name], value, err_msg=name)
    assert_every_update_once(folder)


def assert_every_update_once(folder: Path) -> None:
    """metrics.csv and metrics.npz: updates 1..num_updates once per seed, none missing or repeated."""
    steps = CONFIG.batch_size * np.arange(1, CONFIG.num_updates + 1)
    np.testing.assert_array_equal(np.load(folder / "metrics.npz")["timesteps"], np.tile(steps, (NUM_SEEDS, 1)))
    frame = pd.read_csv(folder / "metrics.csv")
    assert len(frame) == NUM_SEEDS * CONFIG.num_updates
    for seed in range(NUM_SEEDS):
        rows = frame[frame["seed"] == seed]
        assert rows["update"].tolist() == list(range(1, CONFIG.num_updates + 1))
        np.testing.assert_array_equal(rows["timesteps"], steps)


def checkpoint_steps(folder: Path) -> list[int]:
    """The complete orbax steps on disk (folders named by their number)."""
    return sorted(int(p.name) for p in (folder / "checkpoint").iterdir() if p.name.isdigit())


# --- the folder, the last K checkpoints ------------------------------------------------------
def test_run_folder_holds_every_file_and_the_last_k_checkpoints(reference):
    out = Path(reference.path)
    assert {"config.json", "run.json", "metrics.csv", "metrics.npz", "checkpoint"} <= set(os.listdir(out))
    assert reference.finished and not reference.interrupted and reference.updates_done == 8
    assert reference.metrics["episode_return"].shape == (NUM_SEEDS, 8)
    # 4 chunks saved 4 checkpoints; the folder keeps the 2 latest
    info = ppo_jax.checkpoint_info(reference.checkpoint)
    assert len(info["steps"]) == KEEP == len(checkpoint_steps(out)) and info["steps"] == [3, 4]
    assert info["update_step"] == 8
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["updates_done"] == 8
    assert (run["num_seeds"], run["seed"], run["checkpoint_every"], run["keep_checkpoints"]) == (2, 3, 2, 2)
    assert ppo_jax.PPOConfig.from_dict(json.loads((out / "config.json").read_text())) == CONFIG
    assert_every_update_once(out)
    # the population is train_seeds' (seed i gets split(key(seed), num_seeds)[i]), to float32 rounding
    outs = ppo_jax.train_seeds(CONFIG, num_seeds=NUM_SEEDS, seed=SEED)
    np.testing.assert_allclose(reference.metrics["episode_length"], outs.metrics["episode_length"], rtol=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), reference.to_dataframe(), check_dtype=False,
                                  rtol=1e-6)


def test_save_keeps_the_k_latest(reference, tmp_path):
    path = tmp_path / "ckpt"
    for step in range(3):
        state = reference.state.replace(update_step=reference.state.update_step + step)
        ppo_jax.save(path, CONFIG, state, keep=2)
    assert ppo_jax.checkpoint_info(path)["steps"] == [2, 3] and ppo_jax.checkpoint_info(path)["update_step"] == 10
    assert ppo_jax.load(path)[1].update_step.tolist() == [10, 10]
    ppo_jax.save(path, CONFIG, reference.state)  # keep=1, the default: the latest only
    assert ppo_jax.checkpoint_info(path)["steps"] == [4]
    with pytest.raises(ValueError, match="save: keep must be a positive integer, got 0"):
        ppo_jax.save(path, CONFIG, reference.state, keep=0)


def test_the_cli_overwrites_every_file_a_run_writes():
    from ppo_jax.cli import train
    from ppo_jax.runs import RUN_FILES

    assert set(RUN_FILES) <= set(train.RUN_FILES)


def test_load_run_and_run_info_read_the_folder_back(reference):
    info = ppo_jax.run_info(reference.path)
    assert info["config"] == CONFIG and info["updates_done"] == 8 and info["status"] == "finished"
    assert (info["num_seeds"], info["seed"], info["checkpoint_every"], info["keep_checkpoints"]) == (2, 3, 2, 2)
    loaded = ppo_jax.load_run(reference.path)
    assert loaded.config == CONFIG and loaded.num_seeds == 2 and not loaded.interrupted
    np.testing.assert_array_equal(loaded.metrics["policy_loss"], reference.metrics["policy_loss"])
    assert "8/8 updates" in repr(loaded) and "finished" in repr(loaded)


# --- stopping and resuming in-process ----------------------------------------------------------
def test_stopped_run_resumes_to_the_uninterrupted_one(reference, tmp_path):
    out = tmp_path / "stopped"
    first = ppo_jax.train_run(CONFIG, out, max_updates=4, **RUN)
    assert first.updates_done == 4 and not first.finished and not first.interrupted
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    resumed = ppo_jax.resume_run(out)
    assert resumed.finished and resumed.updates_done == 8
    assert_same_run(out, reference)


def test_unaligned_stop_realigns_its_chunks(reference, tmp_path):
    """max_updates=3 stops mid-chunk; the resumed run trains 1 update to the next multiple of
    checkpoint_every, then whole chunks: the same updates, to float32 rounding."""
    out = tmp_path / "unaligned"
    ppo_jax.train_run(CONFIG, out, max_updates=3, **RUN)
    assert ppo_jax.checkpoint_info(out / "checkpoint")["update_step"] == 3
    ppo_jax.resume_run(out, max_updates=1)
    assert ppo_jax.checkpoint_info(out / "checkpoint")["update_step"] == 4
    result = ppo_jax.resume_run(out)
    assert_every_update_once(out)
    for name, value in reference.metrics.items():
        np.testing.assert_allclose(result.metrics[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_resume_true_starts_continues_and_returns_a_finished_run(reference, tmp_path):
    out = tmp_path / "again"
    first = ppo_jax.train_run(CONFIG, out, resume=True, max_updates=4, **RUN)  # nothing there: starts
    assert first.updates_done == 4
    second = ppo_jax.train_run(CONFIG, out, resume=True, **RUN)  # the same call: continues
    assert second.finished
    assert_same_run(out, reference)
    before = (out / "run.json").read_bytes()
    with CompileCounter() as compiles:
        third = ppo_jax.train_run(CONFIG, out, resume=True, **RUN)  # finished: read back, nothing trained
    assert third.finished and compiles.count == 0 and (out / "run.json").read_bytes() == before


def test_resume_true_restarts_a_run_that_never_saved_a_checkpoint(tmp_path):
    """A run killed before its first checkpoint left only files to start over from."""
    out = tmp_path / "early"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "metrics.npz.tmp-999").write_bytes(b"half")
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "1.orbax-checkpoint-tmp-123").mkdir()
    (out / "notes.txt").write_text("mine")
    result = ppo_jax.train_run(CONFIG, out, resume=True, max_updates=2, **RUN)
    assert result.updates_done == 2 and (out / "notes.txt").read_text() == "mine"
    assert not (out / "metrics.npz.tmp-999").exists() and checkpoint_steps(out) == [1]


def test_resume_true_refuses_a_run_with_other_settings(reference):
    with pytest.raises(ValueError, match=r"these settings differ from it: hidden_sizes \(run: \(16,\), "
                                         r"given: \(8,\)\)"):
        ppo_jax.train_run(CONFIG.replace(hidden_sizes=(8,)), reference.path, resume=True, **RUN)
    with pytest.raises(ValueError, match="num_seeds"):
        ppo_jax.train_run(CONFIG, reference.path, resume=True, **{**RUN, "num_seeds": 3})
    with pytest.raises(ValueError, match="total_timesteps 128 is smaller than the run's 256"):
        ppo_jax.train_run(CONFIG.replace(total_timesteps=128), reference.path, resume=True, **RUN)


def test_resume_run_extends_with_a_larger_budget(reference, tmp_path):
    out = tmp_path / "extended"
    ppo_jax.train_run(CONFIG, out, **RUN)
    with pytest.raises(ValueError, match="has done all 8 of its updates.*larger total_timesteps, e.g. 288"):
        ppo_jax.resume_run(out)
    result = ppo_jax.resume_run(out, total_timesteps=12 * CONFIG.batch_size)
    assert result.updates_done == 12 and result.config.num_updates == 12
    np.testing.assert_array_equal(result.metrics["policy_loss"][:, :8], reference.metrics["policy_loss"])
    assert ppo_jax.run_info(out)["config"].total_timesteps == 12 * CONFIG.batch_size


def test_an_extension_killed_before_its_first_checkpoint_keeps_its_budget(reference, tmp_path):
    """config.json (written first) holds the larger budget; the checkpoint still the old one."""
    out = tmp_path / "ext"
    ppo_jax.train_run(CONFIG, out, **RUN)
    larger = CONFIG.replace(total_timesteps=12 * CONFIG.batch_size)
    (out / "config.json").write_text(json.dumps(larger.to_dict()))
    assert ppo_jax.run_info(out)["config"] == larger
    (out / "config.json").write_text(json.dumps(CONFIG.replace(hidden_sizes=(8,)).to_dict()))
    assert ppo_jax.run_info(out)["config"] == CONFIG  # not an extension: the checkpoint's config


# --- bad input: named, before anything is compiled or written -----------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(keep_checkpoints=0), "train_run: keep_checkpoints must be 1 or more, got 0"),
    (dict(checkpoint_every=-1), "train_run: checkpoint_every must be 0 or more"),
    (dict(checkpoint_every=2.5), "train_run: checkpoint_every must be an integer, got 2.5"),
    (dict(max_updates=-1), "train_run: max_updates must be 0 or more"),
    (dict(max_updates=0), "train_run: max_updates must be 1 or more for a new run, got 0"),
    (dict(num_seeds=0), "train_run: num_seeds must be a positive integer, got 0"),
    (dict(resume=True, overwrite=True), "overwrite=True replaces a run and resume=True continues one"),
    (dict(progress="yes"), "progress must be None, True, False or a callable"),
], ids=["keep", "every_negative", "every_float", "max_updates", "max_updates_0", "num_seeds",
        "resume_and_overwrite", "progress"])
def test_bad_input_names_the_field_before_anything_is_compiled_or_written(tmp_path, kwargs, message):
    out = tmp_path / "out"
    with CompileCounter() as compiles, pytest.raises((ValueError, TypeError), match=message):
        ppo_jax.train_run(CONFIG, out, **kwargs)
    assert compiles.count == 0 and not out.exists()


def test_a_folder_holding_a_run_is_refused_without_resume_or_overwrite(reference, tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    with CompileCounter() as compiles, pytest.raises(ValueError, match=r"out '.*used' already holds a run "
                                                     r"\(config.json\); pass resume=True"):
        ppo_jax.train_run(CONFIG, out, **RUN)
    assert compiles.count == 0 and (out / "config.json").read_text() == "{}"
    ppo_jax.train_run(CONFIG, out, overwrite=True, max_updates=2, **RUN)  # replaces the run's files only
    assert (out / "notes.txt").read_text() == "mine" and checkpoint_steps(out) == [1]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        ppo_jax.train_run(CONFIG, tmp_path / "file", **RUN)


def test_resume_run_bad_input(reference, tmp_path):
    with CompileCounter() as compiles:
        with pytest.raises(ppo_jax.CheckpointError, match=r"resume_run: no run to resume in .*nothing.*does "
                                                          "not exist"):
            ppo_jax.resume_run(tmp_path / "nothing")
        (tmp_path / "empty").mkdir()
        with pytest.raises(ppo_jax.CheckpointError, match="resume_run: no run to resume"):
            ppo_jax.resume_run(tmp_path / "empty")
        with pytest.raises(ValueError, match="resume_run: keep_checkpoints must be 1 or more, got 0"):
            ppo_jax.resume_run(reference.path, keep_checkpoints=0)
        with pytest.raises(ValueError, match="resume_run: checkpoint_every must be 0 or more.*got -3"):
            ppo_jax.resume_run(reference.path, checkpoint_every=-3)
        with pytest.raises(ValueError, match="resume_run: total_timesteps 128 is smaller than the run's 256"):
            ppo_jax.resume_run(reference.path, total_timesteps=128)
    assert compiles.count == 0


def test_cli_keep_checkpoints_zero_exits_2_before_anything_is_written(tmp_path, capsys):
    code = main(["train", "--env", "CartPole-v1", "--keep-checkpoints", "0", "--out", str(tmp_path / "o")])
    assert code == 2 and "--keep-checkpoints must be 1 or more, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- signals ----------------------------------------------------------------------------------
class SignalAt:
    """A progress hook sending `signum` to this process once, when update `update` is reported;
    it records the SIGTERM handler it saw then."""

    def __init__(self, update: int, signum: int | None):
        self.update, self.signum, self.handler_seen = update, signum, None

    def __call__(self, report) -> None:
        if report.update == self.update and self.handler_seen is None:
            self.handler_seen = signal.getsignal(signal.SIGTERM)
            if self.signum is not None:
                os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_after_the_chunk_and_the_handlers_come_back(reference_with_callback, tmp_path, signum):
    """Delivered at update 3 (inside the chunk 3-4): the run saves update 4 and returns."""
    assert threading.current_thread() is threading.main_thread()
    caught = []
    sentinel = lambda s, f: caught.append(s)  # where a signal lands if the run installed nothing
    previous = {sig: signal.signal(sig, sentinel) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = ppo_jax.train_run(CONFIG, tmp_path / "run", progress=SignalAt(3, signum), **RUN)
        assert signal.getsignal(signal.SIGTERM) is sentinel and signal.getsignal(signal.SIGINT) is sentinel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert caught == []  # the run's handler took it
    assert result.interrupted and result.stopped_by == signal.Signals(signum).name
    assert result.updates_done == 4 and not result.finished
    assert ppo_jax.checkpoint_info(tmp_path / "run" / "checkpoint")["update_step"] == 4
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"
    assert ppo_jax.resume_run(tmp_path / "run", progress=QUIET).finished
    assert_same_run(tmp_path / "run", reference_with_callback)


def test_a_signal_during_a_save_stops_before_the_next_chunk(reference, tmp_path, monkeypatch):
    import ppo_jax.runs as runs

    def save_then_signal(*args, **kwargs):
        real_save(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    real_save = runs.save
    monkeypatch.setattr(runs, "save", save_then_signal)
    previous = signal.signal(signal.SIGTERM, lambda s, f: pytest.fail("the run's handler was not installed"))
    try:
        result = ppo_jax.train_run(CONFIG, tmp_path / "run", **RUN)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.stopped_by == "SIGTERM" and result.updates_done == 2
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "interrupted" and run["updates_done"] == 2


def test_outside_the_main_thread_no_handler_is_installed(tmp_path):
    hook, results = SignalAt(1, None), []
    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=lambda: results.append(
        ppo_jax.train_run(CONFIG, tmp_path / "run", progress=hook, max_updates=2, **RUN)))
    worker.start()
    worker.join()
    assert results and results[0].updates_done == 2
    assert hook.handler_seen is before


# --- crashes and SIGTERM in a subprocess (slow) ------------------------------------------------
# Each script trains the reference run's settings into OUT and kills itself at one point.
KILLS = {
    # in the chunk of updates 5-6, from the progress callback: checkpoint at 4, metrics of 4
    "mid_chunk": """
        def hook(report):
            if report.update == 5:
                os.kill(os.getpid(), signal.SIGKILL)
        progress = hook
    """,
    # in the 3rd checkpoint save (update 6): its arrays are written into orbax's temporary
    # folder, its metadata is not, the rename never happens; metrics.npz already holds 6 updates
    "mid_checkpoint": """
        import orbax.checkpoint as ocp
        import ppo_jax.checkpoint as checkpoint
        saves = []
        real_save = checkpoint.save
        def counting_save(*args, **kwargs):
            saves.append(1)
            return real_save(*args, **kwargs)
        def die(self, *args, **kwargs):
            if len(saves) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_json_save(self, *args, **kwargs)
        real_json_save = ocp.JsonCheckpointHandler.async_save
        ocp.JsonCheckpointHandler.async_save = die
        ppo_jax.runs.save = counting_save
    """,
    # in the 3rd chunk's metrics.csv write: metrics.npz replaced (6 updates), the csv half-written
    "mid_metrics": """
        import ppo_jax.runs as runs
        real_write = runs.atomic_write
        def dying_write(path, write):
            if path.endswith("metrics.csv") and np.load(path[:-4] + ".npz")["timesteps"].shape[1] == 6:
                def half(tmp):
                    with open(tmp, "w") as f:
                        f.write("seed,update\\n0,")
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_write(path, half)
            return real_write(path, write)
        runs.atomic_write = dying_write
    """,
}


def run_script(body: str) -> str:
    """A script: the common prelude (OUT, CONFIG, RUN from argv; progress None), then `body`."""
    script = textwrap.dedent("""
        import json, os, signal, sys
        import numpy as np
        import ppo_jax
        import ppo_jax.runs
        OUT, CONFIG, RUN = sys.argv[1], ppo_jax.PPOConfig.from_dict(json.loads(sys.argv[2])), json.loads(sys.argv[3])
        progress = None
    """) + textwrap.dedent(body)
    return script


@pytest.mark.parametrize("where", list(KILLS))
def test_a_run_killed_by_sigkill_resumes_to_the_uninterrupted_one(reference, reference_with_callback, tmp_path,
                                                                 where):
    out = tmp_path / where
    script = run_script(KILLS[where]) + "\nppo_jax.train_run(CONFIG, OUT, progress=progress, **RUN)\n"
    proc = subprocess.run([sys.executable, "-c", script, str(out), json.dumps(CONFIG.to_dict()), json.dumps(RUN)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    # the latest good checkpoint loads: update 4 (the save of update 6 never completed)
    config, state = ppo_jax.load(out / "checkpoint")
    assert config == CONFIG and state.update_step.tolist() == [4, 4]
    leftovers = {"mid_checkpoint": lambda n: ".orbax-checkpoint-tmp" in n, "mid_metrics": lambda n: ".tmp-" in n}
    if where in leftovers:  # the interrupted write is on disk, and ignored
        names = os.listdir(out / "checkpoint") + os.listdir(out)
        assert any(leftovers[where](name) for name in names), names
    callback = where == "mid_chunk"  # killed from inside the program, by a progress hook
    result = ppo_jax.resume_run(out, progress=QUIET if callback else None)
    assert result.finished and not result.interrupted
    assert_same_run(out, reference_with_callback if callback else reference)
    assert not [n for n in os.listdir(out) + os.listdir(out / "checkpoint") if "tmp" in n]
    assert len(checkpoint_steps(out)) == KEEP


def test_cli_sigterm_exits_3_and_resumes_to_the_uninterrupted_run(tmp_path):
    """`ppo-jax train` gets SIGTERM at update 3: it saves update 4, exits with code 3, no
    traceback; `--resume` then ends where an uninterrupted `ppo-jax train` ends."""
    flags = ["--env", "CartPole-v1", "--num-envs", "4", "--num-steps", "8", "--num-minibatches", "2",
             "--update-epochs", "1", "--hidden-sizes", "16", "--total-timesteps", "256", "--num-seeds", "2",
             "--seed", "3", "--checkpoint-every", "2", "--keep-checkpoints", "2", "--no-plot"]
    out = tmp_path / "cli"
    body = """
        from ppo_jax.cli.main import main
        from ppo_jax.tracking.progress import ProgressBar
        real_call = ProgressBar.__call__
        def call(self, report):
            real_call(self, report)
            if report.update == 3:
                os.kill(os.getpid(), signal.SIGTERM)
        ProgressBar.__call__ = call
        sys.exit(main(["train", *json.loads(sys.argv[3]), "--out", OUT]))
    """
    proc = subprocess.run([sys.executable, "-c", run_script(body), str(out), json.dumps(CONFIG.to_dict()),
                           json.dumps(flags)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "SIGTERM" in proc.stderr
    assert "interrupted by SIGTERM: stopped after 4/8 updates" in proc.stdout
    assert f"continue with: ppo-jax train --resume {out}" in proc.stdout
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert ppo_jax.checkpoint_info(out / "checkpoint")["update_step"] == 4
    run_command(["train", "--resume", str(out)])  # with the progress bar, as the interrupted run
    full = tmp_path / "full"
    run_command(["train", *flags, "--out", str(full)])
    assert_same_run(out, ppo_jax.load_run(full))
    assert len(checkpoint_steps(out)) == 2
    assert json.loads((out / "run.json").read_text())["argv"] == ["ppo-jax", "train", "--resume", str(out)]


def test_devices_are_passed_to_make_population(reference, tmp_path, monkeypatch):
    import ppo_jax.runs as runs

    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("devices"))
        return ppo_jax.make_population(*args, **kwargs)

    monkeypatch.setattr(runs, "make_population", spy)
    runs._population.cache_clear()
    devices = jax.devices()[:1]
    result = ppo_jax.train_run(CONFIG, tmp_path / "run", devices=devices, max_updates=2, **RUN)
    runs._population.cache_clear()
    assert seen == [tuple(devices)] and result.updates_done == 2
    np.testing.assert_allclose(result.metrics["policy_loss"], reference.metrics["policy_loss"][:, :2], rtol=1e-5,
                               atol=1e-6)
