"""The docs site builds cleanly, and its code runs.

- `mkdocs build --strict` passes: no broken link, anchor or API reference, no
  griffe warning about a docstring (a documented parameter that does not exist).
- The code blocks of the README and of the Getting started and Guides pages run,
  each page in a fresh namespace with tiny budgets (tests/docs_blocks.py says how),
  so that an example that no longer matches the code fails here.
- The README stays short: at most README_MAX_BYTES.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import ppo_jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docs_blocks  # noqa: E402  (a sibling file, not a package)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README_MAX_BYTES = 12_000
RUN_PAGES = [ROOT / "README.md", DOCS / "getting-started.md", *sorted((DOCS / "guides").glob("*.md"))]
RUNNABLE = ("python", "py", "bash", "sh", "shell")


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", RUN_PAGES, ids=page_id)
def test_page_code_runs(page, tmp_path):
    """In this process (the imports and compiled programs shared with the other tests
    of the worker), or in a fresh one where the page needs more devices than it has."""
    blocks = docs_blocks.parse_blocks(page.read_text())
    runnable = [b for b in blocks if b.lang in RUNNABLE and not b.skip_reason]
    assert runnable, f"{page_id(page)} has no code block that runs"
    devices = docs_blocks.devices_for(page)
    if devices and jax.device_count() < devices:
        result = docs_blocks.run_page(page, tmp_path, timeout=900)
    else:
        result = docs_blocks.run_page_here(page, tmp_path)
    assert result.returncode == 0, (f"{page_id(page)}: its code failed\n--- stdout\n{result.stdout[-6000:]}"
                                    f"\n--- stderr\n{result.stderr[-6000:]}")
    announced = result.stdout.count("--- block at line")
    assert announced == sum(b.lang in ("python", "py") or bool(docs_blocks.cli_lines(b.code)) for b in runnable)


def test_every_guide_is_run():
    assert {p.name for p in RUN_PAGES if p.parent.name == "guides"} == {
        "seeds.md", "sweeps.md", "pbt.md", "envs.md", "networks.md", "evaluation-tracking.md",
        "checkpoints.md", "scaling.md", "cli.md"}


def test_skipped_blocks_say_why():
    """A skip mark needs a reason; the skipped blocks are few (each one is code the docs test cannot check)."""
    skipped = [(page_id(p), b.line, b.skip_reason) for p in RUN_PAGES
               for b in docs_blocks.parse_blocks(p.read_text()) if b.skip_reason]
    assert all(reason.strip() for _, _, reason in skipped)
    total = sum(b.lang in RUNNABLE for p in RUN_PAGES for b in docs_blocks.parse_blocks(p.read_text()))
    assert len(skipped) <= total // 5, f"{len(skipped)} of {total} blocks skipped: {skipped}"


def test_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; the docs site holds the rest"


@pytest.mark.skipif(shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists(),
                    reason="mkdocs is not installed: pip install -e '.[docs]'")
def test_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not warnings, "\n".join(warnings) or result.stderr[-4000:]
    for page in ("index.html", "guides/pbt/index.html", "api/training/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "api" / "training" / "index.html").read_text()
    assert 'id="ppo_jax.train_seeds"' in api  # mkdocstrings rendered the reference


# -- the runner itself --------------------------------------------------------------


def test_parse_blocks_reads_fences_marks_and_indents():
    text = ("# t\n```python\nx = 1\n```\n<!-- docs-test: skip: needs two hosts -->\n```bash\nppo-jax train\n```\n"
            "!!! note\n    ```python\n    y = 2\n    ```\n````text\n```python\nnot a block\n```\n````\n")
    blocks = docs_blocks.parse_blocks(text)
    assert [(b.lang, b.code, b.line, b.skip_reason) for b in blocks] == [
        ("python", "x = 1", 2, None), ("bash", "ppo-jax train", 6, "needs two hosts"),
        ("python", "y = 2", 10, None), ("text", "```python\nnot a block\n```", 13, None)]


def test_cli_lines_join_continuations_and_ignore_other_commands():
    bash = ("pip install -e .\nppo-jax train --env CartPole-v1 \\\n    --num-seeds 2\n# ppo-jax comment\n"
            "tensorboard --logdir runs")
    assert docs_blocks.cli_lines(bash) == ["ppo-jax train --env CartPole-v1 --num-seeds 2"]


def test_unclosed_fence_is_an_error():
    with pytest.raises(ValueError, match="line 2"):
        docs_blocks.parse_blocks("text\n```python\nx = 1\n")


def test_a_failing_block_fails_its_page_and_budgets_are_clamped(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nimport ppo_jax\nc = ppo_jax.PPOConfig(total_timesteps=10_000_000, num_envs=512)\n"
                    "print('clamped', c.num_envs, c.num_updates, c.num_steps)\n"
                    "r = ppo_jax.PPOConfig(network='gru', num_steps=240, sequence_length=24, num_envs=64)\n"
                    "print('recurrent', r.num_steps, r.num_envs)\n```\n"
                    "```python\nraise RuntimeError('boom')\n```\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = docs_blocks.run_page(page, workdir, timeout=300)
    assert result.returncode != 0 and "boom" in result.stderr
    assert f"clamped {docs_blocks.MAX_ENVS} {docs_blocks.MAX_UPDATES} {docs_blocks.MAX_STEPS}" in result.stdout
    assert "recurrent 48 8" in result.stdout  # steps: the first multiple of the sequence length >= 32


def test_a_page_run_here_is_clamped_and_leaves_nothing_behind(tmp_path):
    """In-process: the clamp holds during the page only; the working directory, the
    registered networks and the exit code are as a fresh process would leave them."""
    from ppo_jax.networks.registry import network_names

    page = tmp_path / "page.md"
    page.write_text("```python\nimport ppo_jax\nc = ppo_jax.PPOConfig(total_timesteps=10_000_000, num_envs=512)\n"
                    "print('clamped', c.num_envs, c.num_updates)\n"
                    "ppo_jax.register_network('docs_test_net', lambda config, spec: None)\n"
                    "open('written_here.txt', 'w').close()\n```\n"
                    "```python\nraise RuntimeError('boom')\n```\n")
    exits = tmp_path / "exits.md"
    exits.write_text("```python\nimport sys\nsys.exit('bad input')\n```\n```python\nprint('not reached')\n```\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    cwd = os.getcwd()
    result = docs_blocks.run_page_here(page, workdir)
    assert result.returncode == 1 and "RuntimeError: boom" in result.stderr
    assert f"clamped {docs_blocks.MAX_ENVS} {docs_blocks.MAX_UPDATES}" in result.stdout
    assert (workdir / "written_here.txt").is_file() and os.getcwd() == cwd
    assert "docs_test_net" not in network_names()
    assert ppo_jax.PPOConfig(total_timesteps=10_000_000, num_envs=512).num_envs == 512
    stopped = docs_blocks.run_page_here(exits, workdir)
    assert stopped.returncode == 1 and "bad input" in stopped.stderr and "not reached" not in stopped.stdout


def test_cli_evaluation_is_clamped_to_a_few_episodes_and_frames():
    clamp = docs_blocks.clamp_evaluate_argv
    few, frames = docs_blocks.MAX_EPISODES, docs_blocks.MAX_FRAMES
    assert clamp(["evaluate", "runs/x"]) == ["evaluate", "runs/x", "--episodes", str(few)]
    assert clamp(["evaluate", "runs/x", "--episodes", "1000", "--agent", "3"]) == [
        "evaluate", "runs/x", "--episodes", str(few), "--agent", "3"]
    assert clamp(["evaluate", "runs/x", "--episodes", "2"]) == ["evaluate", "runs/x", "--episodes", "2"]
    assert clamp(["evaluate", "runs/x", "--gif", "a.gif"]) == [
        "evaluate", "runs/x", "--gif", "a.gif", "--episodes", str(few), "--max-frames", str(frames)]
    assert clamp(["train", "--episodes", "1000"]) == ["train", "--episodes", "1000"]  # evaluate only
