"""scripts/returns_table.py: a row measured end to end at a tiny budget, and the
verdicts and the aggregate on hand-made rows (against scipy's trimmed mean)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats


@pytest.fixture(scope="module")
def table(load_script):
    return load_script("returns_table")


def _row(env, finals, untrained, reference):
    finals = np.asarray(finals, float)
    return {"env": env, "final_return": finals.tolist(), "mean": finals.mean(), "min": finals.min(),
            "ci_low": finals.min(), "ci_high": finals.max(), "untrained_return": untrained,
            "reference": reference}


def test_a_row_end_to_end_at_a_tiny_budget(table, tmp_path):
    rows_dir = tmp_path / "returns"
    text = table.main(["--envs", "Catch-bsuite", "--num-seeds", "2", "--budget", "1024",
                       "--rows", str(rows_dir)])
    row = json.loads((rows_dir / "Catch-bsuite.json").read_text())
    assert row["budget"] == 1024 and row["num_seeds"] == 2 and len(row["final_return"]) == 2
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["min"] == min(row["final_return"])
    assert -1.0 <= row["untrained_return"] <= 1.0  # Catch pays -1 or +1 per episode
    assert row["reference"] == 1.0 and row["config"]["env"] == "Catch-bsuite"
    assert len(row["curve"]["per_seed"]) == 2 and row["curve"]["steps"][-1] == 1024
    assert "`Catch-bsuite` | 1,024 |" in text and (tmp_path / "returns_table.md").exists()
    assert (tmp_path / "returns_curves.png").stat().st_size > 0


def test_verdicts_against_the_reference(table):
    assert table.verdict(dict(_row("a", [510, 520], 0, 500))) == "above"
    assert table.verdict(dict(_row("a", [490, 510], 0, 500))) == "matched"
    assert table.verdict(dict(_row("a", [400, 450], 0, 500))) == "below"
    assert table.verdict(dict(_row("a", [1, 2], 0, None))) == "no reference"


def test_aggregate_is_the_iqm_of_normalized_scores_over_envs_with_a_reference(table):
    rows = {"A": _row("A", [100, 300, 500, 500], untrained=100, reference=500),
            "B": _row("B", [-1.0, 0.0, 1.0, 1.0], untrained=-1.0, reference=1.0),
            "C": _row("C", [0.0, 0.0], untrained=0.0, reference=0.0),  # reference not above: left out
            "D": _row("D", [3.0, 4.0], untrained=0.0, reference=None)}
    agg = table.aggregate(rows)
    normalized = [0, 0.5, 1, 1, 0, 0.5, 1, 1]
    assert agg["iqm"] == pytest.approx(scipy.stats.trim_mean(normalized, 0.25))
    assert agg["envs"] == ["A", "B"] and agg["excluded"] == ["C", "D"]
    assert agg["ci_low"] <= agg["iqm"] <= agg["ci_high"]


def test_the_table_goes_between_the_results_page_markers_and_nowhere_else(table, tmp_path):
    readme = tmp_path / "returns.md"
    readme.write_text("intro\n<!-- returns-table -->\nold table\n<!-- end: returns-table -->\nrest\n")
    assert table.update_results_page("| new |\n", readme)
    assert readme.read_text() == "intro\n<!-- returns-table -->\n| new |\n<!-- end: returns-table -->\nrest\n"
    readme.write_text("no markers\n")
    assert not table.update_results_page("| new |\n", readme) and readme.read_text() == "no markers\n"


def test_the_committed_table_is_the_one_on_the_results_page(table):
    """The docs page shows the table the committed rows give (regenerated, not pasted by hand)."""
    page = table.RESULTS_PAGE.read_text()
    start, end = table.TABLE_MARKERS
    shown = page.split(start, 1)[1].split(end, 1)[0]
    assert shown == table.markdown(table.load_rows(table.ROWS_DIR))
