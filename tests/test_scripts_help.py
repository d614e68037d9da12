"""Every script in scripts/ runs on the installed package alone.

- `scripts/<x>.py --help` exits 0 and prints its usage, run as `python
  scripts/<x>.py` runs it (as `__main__`, with scripts/ first on sys.path), in a
  fresh process started from the repository root with the environment as it is (no
  PYTHONPATH added). One process runs every script in turn, each in its own
  namespace, so JAX is imported once rather than once per script.
- Statically: no script touches `sys.path`, imports another script or
  `tests/`, or imports a private name of ppo_jax (a name or module with a
  leading underscore). Shared plumbing lives in `ppo_jax.analysis.benchmarking`.

The scripts are listed when the tests run, so a new script is checked too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = REPO_ROOT / "scripts"
SCRIPTS = sorted(SCRIPTS_DIR.glob("*.py"))
NAMES = [path.stem for path in SCRIPTS]
HELP_TIMEOUT_S = 300


HELP_RUNNER = """
import contextlib, io, json, runpy, sys, traceback

scripts_dir, paths = sys.argv[1], sys.argv[2:]
sys.path[0] = scripts_dir  # as `python scripts/x.py` sets it (not this runner's folder)
results = {}
for path in paths:
    sys.argv = [path, "--help"]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(path, run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        code, err = 1, io.StringIO(err.getvalue() + traceback.format_exc())
    results[path] = {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory) -> dict[str, dict]:
    """Every script's --help, in one fresh process: {name: returncode, stdout, stderr}."""
    runner = tmp_path_factory.mktemp("help") / "run_help.py"
    runner.write_text(HELP_RUNNER)
    paths = [str(path.relative_to(REPO_ROOT)) for path in SCRIPTS]
    proc = subprocess.run([sys.executable, str(runner), str(SCRIPTS_DIR), *paths], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=HELP_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return {Path(path).stem: result for path, result in results.items()}


def test_there_are_scripts():
    assert {"benchmark", "returns_table", "memory_table", "ablation"} <= set(NAMES)
    assert not {"train", "sweep", "pbt", "evaluate", "plot"} & set(NAMES)  # the CLI is ppo_jax.cli


@pytest.mark.parametrize("name", NAMES)
def test_help_exits_zero_in_a_fresh_process(help_runs, name):
    run = help_runs[name]
    assert run["returncode"] == 0, f"scripts/{name}.py --help exited {run['returncode']}:\n{run['stderr'][-3000:]}"
    assert "usage:" in run["stdout"]


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


def test_the_help_runner_reports_each_scripts_exit_and_output(tmp_path):
    (tmp_path / "good.py").write_text("import argparse\nargparse.ArgumentParser().parse_args()\n")
    (tmp_path / "broken.py").write_text("import ppo_jax_no_such_module\n")
    (tmp_path / "exits.py").write_text("import sys\nprint('usage: never')\nsys.exit(3)\n")
    (tmp_path / "helper.py").write_text("NAME = 'from scripts/'\n")
    (tmp_path / "uses_its_folder.py").write_text("import helper\nassert __name__ == '__main__'\nprint(helper.NAME)\n")
    runner = tmp_path / "run_help.py"
    runner.write_text(HELP_RUNNER)
    names = ["good.py", "broken.py", "exits.py", "uses_its_folder.py"]
    proc = subprocess.run([sys.executable, str(runner), str(tmp_path), *names], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results["good.py"]["returncode"] == 0 and "usage:" in results["good.py"]["stdout"]
    assert results["broken.py"]["returncode"] == 1 and "ppo_jax_no_such_module" in results["broken.py"]["stderr"]
    assert results["exits.py"]["returncode"] == 3
    assert results["uses_its_folder.py"] == {"returncode": 0, "stdout": "from scripts/\n", "stderr": ""}
