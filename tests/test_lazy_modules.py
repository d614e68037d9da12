"""Deferred modules (`ppo_jax.util.lazy_modules`): gymnax's plotting imports load on first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ppo_jax.util.lazy_modules import DeferredModule, deferred_module


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package `deferme` whose modules record when their code runs (in `deferme.runs`)."""
    root = tmp_path / "deferme"
    root.mkdir()
    (root / "__init__.py").write_text("runs = []\n")
    (root / "plot.py").write_text("import deferme\ndeferme.runs.append('plot')\ndef draw():\n    return 'drawn'\n")
    (root / "broken.py").write_text("import deferme\ndeferme.runs.append('broken')\nraise RuntimeError('no display')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [n for n in sys.modules if n == "deferme" or n.startswith("deferme.")]:
        del sys.modules[name]


def test_a_deferred_module_runs_its_code_on_the_first_name_it_lacks(package):
    module = deferred_module("deferme.plot")
    import deferme
    assert isinstance(module, DeferredModule) and sys.modules["deferme.plot"] is module
    import deferme.plot as plot  # what gymnax's `import matplotlib.pyplot as plt` does
    from deferme import plot as same  # and `from matplotlib import pyplot`
    assert plot is same is module and deferme.plot is module
    assert module.__name__ == "deferme.plot" and module.__spec__.name == "deferme.plot"
    assert deferme.runs == []            # an import and its metadata did not run it
    assert plot.draw() == "drawn"
    assert deferme.runs == ["plot"] and type(module) is type(sys)  # ran once, now a plain module
    assert plot.draw() == "drawn" and deferme.runs == ["plot"]
    assert deferred_module("deferme.plot") is module  # an imported module is returned as is


def test_a_module_that_fails_raises_on_use_and_again_on_the_next_import(package):
    module = deferred_module("deferme.broken")
    with pytest.raises(RuntimeError, match="no display"):
        getattr(module, "anything")  # noqa: B009  (the access is the point)
    assert "deferme.broken" not in sys.modules
    with pytest.raises(RuntimeError, match="no display"):
        import deferme.broken  # noqa: F401


def test_a_module_not_installed_is_left_alone():
    assert deferred_module("no_such_package_here.pyplot") is None
    assert deferred_module("no_such_module_here") is None
    assert "no_such_module_here" not in sys.modules


def test_importing_ppo_jax_defers_gymnax_plotting_and_rendering_still_works(tmp_path):
    """In a fresh process: `import ppo_jax` loads neither seaborn nor pyplot (nor scipy.stats,
    which seaborn imports); gymnax's renders and the user's own pyplot then work."""
    code = textwrap.dedent("""
        import sys
        import ppo_jax
        loaded = [m for m in ("seaborn", "matplotlib.pyplot", "scipy.stats") if m in sys.modules
                  and type(sys.modules[m]).__name__ != "DeferredModule"]
        assert not loaded, loaded
        import gymnax, jax
        env, params = gymnax.make("Catch-bsuite")
        _, state = env.reset(jax.random.key(0), params)
        fig, ax = env.render(state, params)      # gymnax's plt.subplots loads pyplot
        import matplotlib.pyplot as plt
        assert fig in map(plt.figure, plt.get_fignums()) and plt is sys.modules["matplotlib.pyplot"]
        import seaborn as sns
        assert len(sns.color_palette("cubehelix", 3)) == 3
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"}, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
