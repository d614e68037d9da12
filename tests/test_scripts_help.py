"""Every script in scripts/ runs on the installed package alone.

- `python scripts/<x>.py --help` exits 0 in a fresh process started from the
  repository root, with the environment as it is (no PYTHONPATH added).
- Statically: no script touches `sys.path`, imports another script or
  `tests/`, or imports a private name of ppo_jax (a name or module with a
  leading underscore). Shared plumbing lives in `ppo_jax.analysis.benchmarking`.

The scripts are listed when the tests run, so a new script is checked too.
"""

from __future__ import annotations

import ast
import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = REPO_ROOT / "scripts"
SCRIPTS = sorted(SCRIPTS_DIR.glob("*.py"))
NAMES = [path.stem for path in SCRIPTS]
HELP_TIMEOUT_S = 300


def run_help(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path.relative_to(REPO_ROOT)), "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=HELP_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def help_runs() -> dict[str, subprocess.CompletedProcess]:
    """Every script's --help, a few processes at a time (each imports JAX: seconds)."""
    workers = max(1, min(4, (os.cpu_count() or 1)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(zip(NAMES, pool.map(run_help, SCRIPTS), strict=True))


def test_there_are_scripts():
    assert {"benchmark", "returns_table", "memory_table", "ablation"} <= set(NAMES)
    assert not {"train", "sweep", "pbt", "evaluate", "plot"} & set(NAMES)  # the CLI is ppo_jax.cli


@pytest.mark.parametrize("name", NAMES)
def test_help_exits_zero_in_a_fresh_process(help_runs, name):
    proc = help_runs[name]
    assert proc.returncode == 0, f"scripts/{name}.py --help exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "usage:" in proc.stdout


def imported_modules(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) of every import statement, nested ones included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append((module, [alias.name for alias in node.names]))
    return found


def violations(path: Path, script_names: set[str]) -> list[str]:
    """What in `path` breaks the rules of this file's docstring, as readable lines."""
    source = path.read_text()
    problems = []
    if "sys.path" in source:
        problems.append("touches sys.path")
    for module, names in imported_modules(ast.parse(source, filename=str(path))):
        top = module.split(".")[0]
        if module.startswith("."):
            problems.append(f"relative import {module}")
        elif top in script_names:
            problems.append(f"imports the script {top}.py")
        elif top in ("tests", "conftest"):
            problems.append(f"imports {module} from tests/")
        elif top == "ppo_jax":
            private = [part for part in module.split(".") if part.startswith("_")]
            private += [name for name in names if name.startswith("_")]
            if private:
                problems.append(f"imports private {', '.join(private)} from {module}")
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_script_uses_the_installed_package_and_no_other_script(name):
    problems = violations(SCRIPTS_DIR / f"{name}.py", set(NAMES))
    assert not problems, f"scripts/{name}.py: " + "; ".join(problems)


def test_the_static_check_catches_each_kind_of_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.path.insert(0, '.')\nfrom benchmark import git_state\n"
                   "def f():\n    from memory_probe import CueMemoryEnv\n    import tests.conftest\n"
                   "from ppo_jax.core._private import x\nfrom ppo_jax.train import _hidden\n")
    problems = violations(bad, {"benchmark"})
    assert problems[0] == "touches sys.path" and "imports the script benchmark.py" in problems
    assert "imports tests.conftest from tests/" in problems
    assert any("_private" in p for p in problems) and any("_hidden" in p for p in problems)
    good = tmp_path / "good.py"
    good.write_text("import ppo_jax\nfrom ppo_jax.analysis.benchmarking import git_state\n")
    assert violations(good, {"benchmark"}) == []
