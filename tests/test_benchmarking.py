"""ppo_jax.analysis.benchmarking: provenance records, manifests, and alternating timing.

No training: the timing is checked against a fake clock and trivial functions.
"""

from __future__ import annotations

import datetime
import json
import sys

import pytest

from ppo_jax.analysis import benchmarking as bm


def test_machine_info_has_every_provenance_field():
    info = bm.machine_info()
    assert set(info) >= {"cpu_model", "cpu_count", "cpu_affinity", "memory_gib", "platform", "versions",
                         "git", "xla_flags", "jax_platforms", "loadavg_start"}
    assert info["cpu_count"] >= 1 and isinstance(info["cpu_model"], str) and info["cpu_model"]
    assert info["versions"]["python"] and info["versions"]["numpy"]
    assert set(info["versions"]) == {"python", *bm.VERSION_PACKAGES}
    assert set(info["git"]) == {"commit", "ppo_jax_dirty"}
    json.dumps(info)  # a JSON record as it is


def test_package_versions_mark_missing_packages_none():
    versions = bm.package_versions(("numpy", "no-such-package-ppo-jax-test"))
    assert versions["numpy"] and versions["no-such-package-ppo-jax-test"] is None


def test_git_state_of_this_checkout_and_of_a_folder_outside_git(tmp_path):
    state = bm.git_state()
    if state["commit"] is not None:  # a git checkout (an sdist install has none)
        assert len(state["commit"]) == 40 and isinstance(state["ppo_jax_dirty"], bool)
    assert bm.git_state(tmp_path) == {"commit": None, "ppo_jax_dirty": None}


def test_short_commit():
    assert bm.short_commit({"commit": "0123456789abcdef", "ppo_jax_dirty": False}) == "0123456"
    assert bm.short_commit({"commit": "0123456789abcdef", "ppo_jax_dirty": True}) == "0123456 (dirty)"
    assert bm.short_commit({"commit": None, "ppo_jax_dirty": None}) is None and bm.short_commit(None) is None


def test_source_digest_covers_the_subpackages():
    digest = bm.source_digest()
    assert len(digest) == 12 and int(digest, 16) >= 0 and digest == bm.source_digest()
    assert (bm.PACKAGE_DIR / "analysis" / "benchmarking.py").exists()  # a subpackage file it hashes


def test_device_info_reports_jax_device():
    info = bm.device_info()
    assert info["platform"] in ("cpu", "gpu", "tpu") and info["count"] >= 1 and info["kind"]


def test_the_module_imports_only_the_standard_library_at_import_time():
    """JAX and the rest of ppo_jax are imported inside the functions that need them (at the
    top: the standard library and ppo_jax.util.files, itself standard library only)."""
    def top_level(path):
        return [line.split()[1] for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
    modules = top_level(bm.PACKAGE_DIR / "analysis" / "benchmarking.py")
    assert {m.split(".")[0] for m in modules if m != "ppo_jax.util.files"} <= set(sys.stdlib_module_names) | {
        "__future__", "numpy"}, modules
    files_imports = {m.split(".")[0] for m in top_level(bm.PACKAGE_DIR / "util" / "files.py")}
    assert files_imports <= set(sys.stdlib_module_names) | {"__future__"}, files_imports


def test_manifest_written_and_read_back(tmp_path):
    folder = tmp_path / "bench-x"
    folder.mkdir()
    (folder / "results.jsonl").write_text("{}\n")
    path = bm.write_manifest(folder, experiment="Speed of x.", files={"results.jsonl": "one row per run"},
                             command="python scripts/x.py --fast", device={"platform": "cpu", "kind": "cpu",
                                                                           "count": 1})
    assert path == folder / "manifest.json"
    manifest = bm.read_manifest(folder)
    assert manifest == bm.read_manifest(path) == json.loads(path.read_text())
    assert list(manifest) == ["experiment", "command", "commit", "commit_source", "date", "machine",
                              "device", "versions", "files"]
    assert manifest["experiment"] == "Speed of x." and manifest["command"] == "python scripts/x.py --fast"
    assert manifest["date"] == datetime.date.today().isoformat()
    assert "core CPU" in manifest["machine"] and manifest["device"] == "1 x cpu (cpu)"
    assert manifest["versions"]["python"] and manifest["files"] == {"results.jsonl": "one row per run"}
    assert manifest["commit"] == (bm.short_commit(bm.git_state()) or "not recorded")


def test_manifest_keeps_the_entries_of_files_still_there(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.jsonl").write_text("")
    bm.write_manifest(tmp_path, experiment="e", files={"a.jsonl": "A", "gone.jsonl": "G"}, commit="abc",
                      date="2026-01-01", machine="m", versions="not recorded", notes="first")
    bm.write_manifest(tmp_path, experiment="e2", files={"b.jsonl": "B"}, commit="def", date="2026-01-02",
                      machine="m", versions={"jax": "0.1"})
    manifest = bm.read_manifest(tmp_path)
    assert manifest["files"] == {"a.jsonl": "A", "b.jsonl": "B"}  # gone.jsonl does not exist
    assert manifest["commit"] == "def" and manifest["experiment"] == "e2"
    assert manifest["notes"] == "first"  # notes written by hand survive a regenerated manifest
    assert "device" not in manifest and "commit_source" not in manifest
    bm.write_manifest(tmp_path, experiment="e3", files={"b.jsonl": "B"}, merge=False, commit="x",
                      machine="m", versions="v", notes="n")
    assert bm.read_manifest(tmp_path)["files"] == {"b.jsonl": "B"}
    assert bm.read_manifest(tmp_path)["notes"] == "n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "manifest.json"]  # no temporaries


def test_command_line_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "x.py"
    assert bm.command_line([str(script), "--out", "a b"]) == "python scripts/x.py --out 'a b'"
    assert bm.command_line(["/elsewhere/y.py"]) == "python /elsewhere/y.py"


def test_append_jsonl_makes_the_folder_and_appends(tmp_path):
    path = tmp_path / "new" / "rows.jsonl"
    bm.append_jsonl(path, {"a": 1})
    bm.append_jsonl(path, {"a": 2})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"a": 2}]


def test_alternating_order():
    assert bm.alternating_order(["a", "b", "c"], 3) == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]
    assert bm.alternating_order(["a"], 0) == []


class FakeClock:
    """(wall, cpu) that the programs advance: program `name` takes COST[name] seconds."""

    COST = {"a": (1.0, 0.5), "b": (3.0, 2.0)}

    def __init__(self):
        self.wall, self.cpu = 100.0, 10.0

    def __call__(self):
        return self.wall, self.cpu

    def run(self, name):
        wall, cpu = self.COST[name]
        self.wall += wall
        self.cpu += cpu
        return name


def test_time_alternating_alternates_and_returns_per_program_times():
    clock = FakeClock()
    calls, waited, reported = [], [], []

    def program(name):
        calls.append(name)
        return clock.run(name)

    wall, cpu = bm.time_alternating({"a": (program, ("a",)), "b": (program, ("b",))}, 3,
                                    wait=waited.append, now=clock,
                                    on_run=lambda r, name, w, c: reported.append((r, name, w, c)))
    assert calls == ["a", "b", "b", "a", "a", "b"] and waited == calls
    assert wall == {"a": [1.0] * 3, "b": [3.0] * 3} and cpu == {"a": [0.5] * 3, "b": [2.0] * 3}
    assert reported[:2] == [(0, "a", 1.0, 0.5), (0, "b", 3.0, 2.0)] and reported[2][:2] == (1, "b")


def test_time_alternating_times_real_functions_with_jax_wait():
    import jax.numpy as jnp

    wall, cpu = bm.time_alternating({"x": (jnp.add, (1.0, 2.0)), "y": (jnp.multiply, (2.0, 3.0))}, 2)
    assert set(wall) == set(cpu) == {"x", "y"}
    assert all(len(v) == 2 and min(v) >= 0 for v in (*wall.values(), *cpu.values()))


def test_clock_laps():
    ticks = iter([(0.0, 0.0), (1.5, 1.0), (4.0, 1.25)])
    clock = bm.Clock(lambda: next(ticks))
    assert clock.lap() == (1.5, 1.0) and clock.lap() == (2.5, 0.25)
    with pytest.raises(StopIteration):
        clock.lap()
