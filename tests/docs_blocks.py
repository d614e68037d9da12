"""Run the code blocks of a Markdown page, so that the docs cannot drift from the code.

    python tests/docs_blocks.py docs/guides/seeds.md      # run one page, block by block

A page's blocks run in page order in one namespace (its working directory an
empty temporary folder), like the cells of a notebook:

- ```python blocks run in one shared namespace;
- ```bash blocks: each line starting with `ppo-jax ` (continuations joined) runs
  as the CLI does (`ppo_jax.cli.main.main(argv)`), in that same process; a
  non-zero exit fails the page. Other lines (pip, tensorboard, srun) are not run;
- a block right under `<!-- docs-test: skip: REASON -->` is not run, and the
  reason is printed; other languages (text, json, console output) are not run.

Budgets are made tiny, and nothing else: before the page runs, every PPOConfig
built (directly, by `preset`, by `.replace`, by the CLI) is clamped to at most
MAX_ENVS envs (rounded up to a multiple of num_minibatches), MAX_STEPS steps per
rollout (rounded up to a multiple of sequence_length) and MAX_UPDATES updates,
and `ppo-jax evaluate` plays at most MAX_EPISODES episodes per agent and draws at
most MAX_FRAMES frames of a GIF. Compiles use XLA:CPU's fast
settings (FAST_COMPILE below).
tests/test_docs.py runs every page this way, in its own process (`run_page_here`:
the page gets a fresh namespace, and what it changes outside it is put back), except
a page that needs more devices than that process has (`devices_for`), which runs in a
fresh process (`run_page`, as this file's command line does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_ENVS = 8
MAX_UPDATES = 16
MAX_STEPS = 32
MAX_EPISODES = 10
MAX_FRAMES = 40
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip:\s*(?P<reason>.+?)\s*-->")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
# XLA:CPU's fast compile settings (the older code generator at backend optimization
# level 0): as jit compiler options, and as XLA_FLAGS for a fresh process. The one
# definition; tests/conftest.py uses both forms.
FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}
FAST_COMPILE_FLAGS = " ".join(f"--{name}={str(value).lower()}" for name, value in FAST_COMPILE.items())


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    lang: str  # "python" or "bash" (the ones that run) or anything else
    code: str
    line: int  # 1-based line of the opening fence
    skip_reason: str | None = None


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, with the skip mark above it if any.

    Fences may be indented (inside admonitions and tabs); the block's common
    indentation is removed.
    """
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        above = lines[i - 1].strip() if i else ""
        mark = SKIP_MARK.search(above)
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""):
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: a {fence} fence is never closed")
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:j])
        blocks.append(Block(opening["lang"].lower(), textwrap.dedent(body), i + 1,
                            mark["reason"] if mark else None))
        i = j + 1
    return blocks


def cli_lines(bash: str) -> list[str]:
    """The `ppo-jax ...` commands of a bash block (continuations joined, comments dropped)."""
    joined = re.sub(r"\s*\\\n\s*", " ", bash)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("ppo-jax ")]


def clamp_evaluate_argv(argv: list[str]) -> list[str]:
    """`ppo-jax evaluate` arguments with --episodes at most MAX_EPISODES and, with --gif,
    --max-frames at most MAX_FRAMES (each added where its default is larger)."""
    def clamp(argv, flag, cap, default):
        if flag not in argv:
            return argv + [flag, str(cap)] if default > cap else argv
        i = argv.index(flag) + 1
        return argv[:i] + [str(min(int(argv[i]), cap))] + argv[i + 1:]

    if argv[:1] != ["evaluate"]:
        return argv
    argv = clamp(argv, "--episodes", MAX_EPISODES, 100)
    return clamp(argv, "--max-frames", MAX_FRAMES, 500) if "--gif" in argv else argv


PRELUDE = f'''
import dataclasses, math, shlex, sys
MAX_EPISODES, MAX_FRAMES = {MAX_EPISODES}, {MAX_FRAMES}
{inspect.getsource(clamp_evaluate_argv)}
from ppo_jax.config.config import PPOConfig as _PPOConfig

_post_init = _PPOConfig.__post_init__

def _tiny_budget(self):
    """Clamp a config to <= {MAX_ENVS} envs, <= {MAX_STEPS} steps and <= {MAX_UPDATES} updates, then validate."""
    if self.num_envs > {MAX_ENVS}:
        per = self.num_minibatches  # keeps the batch (and recurrent envs) divisible into minibatches
        object.__setattr__(self, "num_envs", min(self.num_envs, per * math.ceil({MAX_ENVS} / per)))
    if self.num_steps > {MAX_STEPS}:
        length = self.sequence_length or 1  # a multiple of the sequence length still divides into sequences
        object.__setattr__(self, "num_steps", min(self.num_steps, length * math.ceil({MAX_STEPS} / length)))
    cap = {MAX_UPDATES} * self.num_envs * self.num_steps
    if self.total_timesteps > cap:
        object.__setattr__(self, "total_timesteps", cap)
    _post_init(self)

_PPOConfig.__post_init__ = _tiny_budget

def _run_cli(line):
    from ppo_jax.cli.main import main
    argv = clamp_evaluate_argv(shlex.split(line, comments=True)[1:])  # a trailing "# ..." is a comment, as in bash
    code = main(argv)
    if code:
        raise SystemExit(f"{{line!r}} exited with {{code}}")
'''


def page_script(blocks: list[Block]) -> str:
    """The Python program that runs a page's blocks in order, announcing each."""
    parts = [PRELUDE]
    for block in blocks:
        if block.skip_reason or block.lang not in ("python", "py", "bash", "sh", "shell"):
            continue
        if block.lang not in ("python", "py") and not cli_lines(block.code):
            continue  # a shell block with nothing to run here (pip, tensorboard, srun)
        parts.append(f"print('--- block at line {block.line} ({block.lang})', flush=True)")
        if block.lang in ("python", "py"):
            parts.append(f"exec(compile({block.code!r}, 'block at line {block.line}', 'exec'))")
        else:
            parts.extend(f"print({'$ ' + line!r}, flush=True); _run_cli({line!r})" for line in cli_lines(block.code))
    return "\n".join(parts) + "\n"


def page_env(devices: int | None = None) -> dict[str, str]:
    """The page process's environment: fast compiles, optionally N host devices (under
    pytest it inherits the session's compilation cache, tests/conftest.py)."""
    env = dict(os.environ)
    flags = [FAST_COMPILE_FLAGS, env.get("XLA_FLAGS", "")]
    if devices:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(f for f in flags if f)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def devices_for(page: Path) -> int | None:
    """The scaling guide shows several devices: it runs on 4 forced host devices."""
    return 4 if page.name == "scaling.md" else None


def run_page(page: Path, workdir: Path, timeout: float = 900, capture: bool = True) -> subprocess.CompletedProcess:
    """Run a page's blocks in a fresh process in `workdir`."""
    script = workdir / "page.py"
    script.write_text(page_script(parse_blocks(page.read_text())))
    return subprocess.run([sys.executable, str(script)], cwd=workdir,
                          env=page_env(devices_for(page)), timeout=timeout,
                          capture_output=capture, text=True)


@dataclasses.dataclass(frozen=True)
class PageResult:
    """What running a page gave, as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


def run_page_here(page: Path, workdir: Path) -> PageResult:
    """Run a page's blocks in this process, in a fresh namespace, in `workdir`.

    As `run_page`, without a process start: the imports and the programs this process
    has already compiled are reused. What a page changes outside its namespace is put
    back afterwards: the PPOConfig budget clamp (PRELUDE), the working directory, the
    networks it registered, matplotlib's open figures. JAX's settings and devices are
    this process's (tests/conftest.py sets the same fast compile flags as `page_env`).
    """
    import matplotlib.pyplot as plt

    from ppo_jax.config.config import PPOConfig
    from ppo_jax.networks import registry

    script = compile(page_script(parse_blocks(page.read_text())), str(page), "exec")
    post_init, networks, cwd = PPOConfig.__post_init__, dict(registry._REGISTRY), os.getcwd()
    stdout, stderr, code = io.StringIO(), io.StringIO(), 0
    try:
        os.chdir(workdir)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                exec(script, {"__name__": "__main__"})
            except SystemExit as stop:  # as the interpreter treats it at the top level
                if stop.code is not None and not isinstance(stop.code, int):
                    print(stop.code, file=sys.stderr)
                code = 1 if stop.code is not None and not isinstance(stop.code, int) else (stop.code or 0)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(cwd)
        PPOConfig.__post_init__ = post_init
        registry._REGISTRY.clear()
        registry._REGISTRY.update(networks)
        plt.close("all")
    return PageResult(code, stdout.getvalue(), stderr.getvalue())


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    status = 0
    for name in argv:
        page = Path(name).resolve()
        blocks = parse_blocks(page.read_text())
        for block in blocks:
            if block.skip_reason:
                print(f"{name}:{block.line}: skipped ({block.skip_reason})")
        with tempfile.TemporaryDirectory() as workdir:
            result = run_page(page, Path(workdir), capture=False)
        print(f"{name}: {'ok' if result.returncode == 0 else f'FAILED (exit {result.returncode})'}")
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
