"""Every number a report page shows is also in its results.json (the page's header promises it).

The studies' quick runs are checked in their own test files (same fixtures, no extra
training); here: the checker itself, `denselab run` (classification and regression) and
`denselab search`.
"""

import json

import pytest

import denselab
from denselab.report.audit import missing_numbers, page_text, shown_numbers
from denselab.search import search

FAST = ["train.epochs=5", "evaluate.folds=3", "train.batch_size=16"]


def assert_numbers_in_results(out):
    """Fail with the missing numbers and where they stand on the page."""
    html = (out / "report.html").read_text(encoding="utf-8")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    missing = missing_numbers(html, results)
    if missing:
        text = " ".join(page_text(html).split())
        where = [text[max(0, text.find(m.rstrip("%")) - 80):text.find(m.rstrip("%")) + 40] for m in missing[:5]]
        pytest.fail(f"{out.name}: shown on the page but not in results.json: {missing}\ncontext: {where}")


# --- the checker ----------------------------------------------------------------------

def test_rounding_percentages_and_ranges_match():
    results = {"acc": 0.85347, "std": 0.0123, "tiny": 1.2345e-05, "rows": 4000, "range": [0.91, 0.9474]}
    page = ("<p>accuracy 0.8535 (85.3%), ± 1.2 points, 1.234e-05, N = 4000, source 91.00–94.74%,"
            " f1 x0 ci95_low</p>")
    assert missing_numbers(page, results) == []
    assert missing_numbers("<p>accuracy 0.86</p>", results) == ["0.86"]  # 0.85347 rounds to 0.85
    assert missing_numbers("<p>over 12 folds</p>", results) == ["12"]


def test_only_visible_text_counts():
    page = ("<html><head><style>p { margin: 1.55rem }</style><title>run 7</title></head><body>"
            "<p class=\"meta\">Report generated 2031-01-02 10:11</p><img alt=\"figure 9\" src=\"data:x\">"
            "<table><tr><td>0.5</td></tr></table><p>version 3.6.0</p></body></html>")
    assert [w for w, *_ in shown_numbers(page_text(page))] == ["0.5", "3.6"]
    assert missing_numbers(page, {"v": "keras 3.6.0", "x": 0.5}) == []


# --- denselab run and denselab search -------------------------------------------------------

def test_run_report_numbers_are_in_results_json(tmp_path):
    out = tmp_path / "iris"
    denselab.run("iris", out=out, overrides=FAST)
    assert_numbers_in_results(out)
    saved = json.loads((out / "results.json").read_text())
    row = saved["tables"]["diagnosis"][0]  # the diagnosis paragraph's numbers
    assert set(row) >= {"metric", "training", "validation", "chance", "gap"}
    assert row["validation"] == pytest.approx(saved["cv"]["mean"])


def test_regression_run_report_numbers_are_in_results_json(tmp_path):
    out = tmp_path / "surface"
    denselab.run("workshop-regression-underfit", out=out, overrides=["train.epochs=3", "evaluate.folds=2"])
    assert_numbers_in_results(out)


def test_search_report_numbers_are_in_results_json(tmp_path):
    raw = {"name": "audit", "data": {"source": "iris"},
           "model": {"hidden": [{"units": 4, "activation": "relu"}]},
           "train": {"epochs": 3, "batch_size": 32}, "evaluate": {"folds": 2},
           "search": {"sampler": "grid", "space": {"train.learning_rate": [0.01, 0.1]}}}
    out = tmp_path / "search"
    search(raw, 2, storage=f"sqlite:///{tmp_path / 'audit.db'}", out=out)
    assert_numbers_in_results(out)
