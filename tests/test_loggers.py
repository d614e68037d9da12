"""Loggers: JSON lines, TensorBoard and W&B (offline) read back equal TrainOutput.metrics.

All runs are tiny (2 seeds x 4 updates of CartPole). W&B runs offline with
no network; its binary run file is read back with W&B's own protobuf records.
"""

from __future__ import annotations

import glob
import json
import os
import struct
import sys

import jax
import numpy as np
import pytest
from conftest import tiny_config

import ppo_jax
from ppo_jax.core.iteration import METRIC_NAMES
from ppo_jax.tracking.loggers import JsonlLogger, read_jsonl

CONFIG = tiny_config(num_updates=4, eval_every=2, eval_episodes=2)
NUM_SEEDS = 2


def assert_curve_equals(logged: dict[int, float], metric: np.ndarray, by: np.ndarray, name: str):
    """`logged` {step: value} holds exactly the finite entries of `metric`, at steps `by`."""
    finite = np.isfinite(metric)
    assert sorted(logged) == sorted(int(s) for s in by[finite]), name
    for step, value in zip(by[finite], metric[finite]):
        np.testing.assert_allclose(logged[int(step)], value, rtol=1e-6, err_msg=name)


def test_jsonl_round_trip(tmp_path):
    logger = JsonlLogger(tmp_path / "m.jsonl", run_name="rt")
    outs = ppo_jax.train_seeds(CONFIG, NUM_SEEDS, seed=0, logger=logger)
    logger.close()
    hparams, frame = read_jsonl(tmp_path / "m.jsonl")
    assert sorted(hparams) == ["seed0", "seed1"]
    assert hparams["seed1"]["learning_rate"] == pytest.approx(CONFIG.hparams.learning_rate)
    assert hparams["seed1"]["eval_every"] == 2 and hparams["seed1"]["seed_index"] == 1
    assert set(frame["run"]) == {"rt"}
    for s in range(NUM_SEEDS):
        rows = frame[frame["curve"] == f"seed{s}"].set_index("update")
        assert list(rows.index) == [1, 2, 3, 4]
        for name in METRIC_NAMES:
            values = rows[name].to_dict() if name in rows else {}
            logged = {u: v for u, v in values.items() if not np.isnan(v)}
            assert_curve_equals(logged, np.asarray(outs.metrics[name][s]), np.arange(1, 5), name)


def test_tensorboard_events_equal_the_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with ppo_jax.TensorBoardLogger(tmp_path, run_name="tb") as logger:
        outs = ppo_jax.train_seeds(CONFIG, NUM_SEEDS, seed=0, logger=logger)
    for s in range(NUM_SEEDS):
        acc = EventAccumulator(str(tmp_path / "tb" / f"seed{s}"))
        acc.Reload()
        steps = np.asarray(outs.metrics["timesteps"][s])
        for name in METRIC_NAMES:
            events = acc.Scalars(name) if name in acc.Tags()["scalars"] else []
            assert_curve_equals({e.step: e.value for e in events}, np.asarray(outs.metrics[name][s]),
                                steps, name)
        # the hyperparameters panel
        plugins = acc.PluginTagToContent("hparams")
        assert "_hparams_/session_start_info" in plugins
        assert b"learning_rate" in plugins["_hparams_/session_start_info"]


def wandb_records(path: str):
    """The protobuf records of a W&B run file (its LevelDB-style log of 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, block, chunk = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        payload, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 2):  # full, first
            chunk = payload
        elif kind in (3, 4):  # middle, last
            chunk += payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            yield record


def test_wandb_offline_history_equals_the_metrics(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    with ppo_jax.WandbLogger(project="ppo_jax_test", mode="offline", dir=str(tmp_path),
                             run_name="wb") as logger:
        outs = ppo_jax.train_seeds(CONFIG, NUM_SEEDS, seed=0, logger=logger)
    # The run files are complete only once W&B's service process has closed each run's
    # stream: it buffers a run's transaction log (run-*.wandb) in 32 KiB blocks and writes
    # the last one when the stream closes, which run.finish() requests without waiting for
    # it (right after close() a file can still hold its 7-byte header alone). teardown()
    # waits for the service process to exit, after it has closed every stream.
    wandb.teardown()
    files = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == NUM_SEEDS
    seen = set()
    for path in files:
        history, name, config = {}, None, {}
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                name, group = record.run.display_name, record.run.run_group
                config = {i.key: json.loads(i.value_json) for i in record.run.config.update}
                assert group == "wb"
            elif kind == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
                         for i in record.history.item}
                history[int(items.get("_step", record.history.step.num))] = items
        assert name is not None, (path, os.path.getsize(path))
        s = int(name.removeprefix("seed"))
        seen.add(s)
        assert config["learning_rate"] == pytest.approx(CONFIG.hparams.learning_rate)
        for metric in METRIC_NAMES:
            logged = {u: h[metric] for u, h in history.items() if metric in h}
            assert_curve_equals(logged, np.asarray(outs.metrics[metric][s]), np.arange(1, 5), metric)
    assert seen == {0, 1}


def test_sweep_curves_are_named_after_swept_values_and_reduce_per_configuration(tmp_path):
    agents, reduced = JsonlLogger(tmp_path / "a.jsonl"), JsonlLogger(tmp_path / "r.jsonl",
                                                                      population="reduce")
    res = ppo_jax.sweep(CONFIG, {"learning_rate": [1e-3, 3e-4], "clip_eps": [0.1]}, num_seeds=2,
                        logger=[agents, reduced])
    agents.close(), reduced.close()
    hparams, frame = read_jsonl(tmp_path / "a.jsonl")
    assert sorted(hparams) == sorted(f"learning_rate={lr},clip_eps=0.1/seed{s}"
                                     for lr in ("0.001", "0.0003") for s in (0, 1))
    assert hparams["learning_rate=0.0003,clip_eps=0.1/seed1"]["learning_rate"] == pytest.approx(3e-4)
    rows = frame[frame["curve"] == "learning_rate=0.0003,clip_eps=0.1/seed1"]
    np.testing.assert_allclose(rows["policy_loss"], res.metrics["policy_loss"][1, 1], rtol=1e-6)

    hparams, frame = read_jsonl(tmp_path / "r.jsonl")
    assert sorted(hparams) == ["learning_rate=0.0003,clip_eps=0.1", "learning_rate=0.001,clip_eps=0.1"]
    rows = frame[frame["curve"] == "learning_rate=0.001,clip_eps=0.1"]
    loss = res.metrics["policy_loss"][0]  # [seeds, updates]
    np.testing.assert_allclose(rows["policy_loss/mean"], loss.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rows["policy_loss/min"], loss.min(0), rtol=1e-6)
    np.testing.assert_allclose(rows["policy_loss/max"], loss.max(0), rtol=1e-6)


def test_trackers_update_while_training_runs(tmp_path):
    """At each update's report, the JSONL and TensorBoard files already hold the earlier updates."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    seen = []

    def peek(report):  # the progress hook runs in the same callback, before the loggers
        _, frame = read_jsonl(tmp_path / "m.jsonl") if os.path.exists(tmp_path / "m.jsonl") else (
            None, {"update": []})
        tb = []
        if (tmp_path / "live" / "seed0").exists():
            acc = EventAccumulator(str(tmp_path / "live" / "seed0"))
            acc.Reload()
            tb = [e.step for e in acc.Scalars("policy_loss")] if acc.Tags()["scalars"] else []
        seen.append((report.update, sorted(set(frame["update"])), len(tb)))

    jsonl = JsonlLogger(tmp_path / "m.jsonl", run_name="live", flush_secs=0)
    tb = ppo_jax.TensorBoardLogger(tmp_path, run_name="live", flush_secs=0)
    ppo_jax.train_seeds(CONFIG, NUM_SEEDS, logger=[jsonl, tb], progress=peek)
    jsonl.close(), tb.close()
    assert [s[0] for s in seen] == [1, 2, 3, 4], seen
    for update, jsonl_updates, tb_points in seen:
        assert jsonl_updates == list(range(1, update))
        assert tb_points == update - 1


def test_one_host_callback_for_progress_and_every_logger(tmp_path):
    def callbacks(**kwargs):
        train = ppo_jax.make_train(CONFIG, **kwargs)
        text = jax.jit(jax.vmap(train, in_axes=(0, None))).lower(
            jax.random.split(jax.random.key(0), 2), CONFIG.hparams).as_text()
        return text.count("xla_ffi_python_cpu_callback") + text.count("xla_python_cpu_callback")

    loggers = [JsonlLogger(tmp_path / "a.jsonl"), ppo_jax.TensorBoardLogger(tmp_path)]
    one = callbacks(progress=lambda r: None)
    assert one >= 1
    assert callbacks(progress=lambda r: None, logger=loggers) == one
    assert callbacks(logger=loggers) == one


def test_unknown_tracker_and_bad_logger_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown tracker 'tensorbored'; valid trackers: jsonl, "
                                         r"tensorboard, wandb"):
        ppo_jax.make_logger(["jsonl", "tensorbored"], tmp_path)
    with pytest.raises(TypeError, match="logger must be None, a ppo_jax.loggers.Logger"):
        ppo_jax.train_seeds(CONFIG, 2, logger="tensorboard")
    with pytest.raises(ValueError, match="population must be one of agents, reduce"):
        JsonlLogger(tmp_path / "x.jsonl", population="mean")


@pytest.mark.parametrize("package, build", [
    ("tensorboardX", lambda d: ppo_jax.TensorBoardLogger(d)),
    ("wandb", lambda d: ppo_jax.WandbLogger(mode="offline", dir=str(d))),
])
def test_missing_optional_package_names_the_extra(tmp_path, monkeypatch, package, build):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=rf"needs the package '{package}'.*ppo_jax\[track\]"):
        build(tmp_path)
    with pytest.raises(ImportError, match=r"ppo_jax\[track\]"):
        ppo_jax.make_logger(["jsonl", {"tensorboardX": "tensorboard"}.get(package, package)], tmp_path)
