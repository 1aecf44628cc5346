"""A real notebook, executed by a real Jupyter kernel (nbclient + ipykernel): a run's
result displays as HTML with its numbers and figures, its repr is one short line, its
tables are DataFrames and `summary()` prints like Keras.

The notebook is built here (nbformat), so it holds no stored outputs to drift.
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    "import denselab\n"
    "result = denselab.run('iris', overrides=['train.epochs=4', 'evaluate.folds=2'], report=False)\n"
    "result",
    "print(repr(result))",
    "result.table('cv_folds')",
    "result.model.summary()",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # the test's own interpreter is the kernel (it has denselab and ipykernel installed)
    env_before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("MPLBACKEND", None)
    return nb


def _outputs(nb, index: int) -> list:
    return nb.cells[index].outputs


def test_run_result_displays_as_html(executed):
    (out,) = [o for o in _outputs(executed, 0) if o.output_type == "execute_result"]
    html = out.data["text/html"]
    assert html.startswith('<div class="denselab-result">') and "<h3>denselab run · iris</h3>" in html
    assert re.search(r"CV accuracy \d\.\d{4} ± \d\.\d{4} \(95 % CI", html)
    assert re.search(r"test accuracy \d\.\d{4} on 30 rows", html)
    assert html.count('<img alt="') == 2 and html.count("data:image/png;base64,") == 2
    assert '<img alt="learning_curves"' in html and '<img alt="confusion_matrix_test_rows"' in html
    assert "<h4>cv_summary</h4>" in html and "<table" in html
    assert len(out.data["text/plain"]) < 300  # the plain fallback is the short repr


def test_repr_is_one_short_line(executed):
    text = "".join(o.get("text", "") for o in _outputs(executed, 1)).strip()
    assert text.startswith("<RunResult denselab run · iris · CV accuracy ") and "\n" not in text
    assert len(text) < 300


def test_table_is_a_dataframe(executed):
    (out,) = [o for o in _outputs(executed, 2) if o.output_type == "execute_result"]
    assert 'class="dataframe"' in out.data["text/html"] and "accuracy" in out.data["text/html"]


def test_summary_prints_like_keras(executed):
    outputs = _outputs(executed, 3)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    text += "".join(o.get("data", {}).get("text/plain", "") for o in outputs if o.output_type == "display_data")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Keras draws its table with rich, in colour
    assert "Total params: 163" in text and "Layer (type)" in text and "Predicts: `species`" in text
    assert not [o for o in outputs if o.output_type == "execute_result"]  # returns None, as Keras does
    assert not [o for o in outputs if o.output_type == "error"]
