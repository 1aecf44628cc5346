"""Reports: pure functions from results to figures and tables, and one HTML page per study.

- `plots`: matplotlib figures (learning curves, confusion matrix, pair plot,
  correlation, decision boundary, 3-D surface, score bars); each returns a `Figure`.
- `tables`: pandas frames of every number shown.
- `diagnosis.diagnose`: under/overfitting in plain words.
- `html.write_report`: one self-contained `report.html` + `results.json` + CSVs, atomically.
- `audit.missing_numbers`: the numbers a page shows that its results.json lacks (tests keep it empty).

Example:
    >>> from denselab.report import Section, write_report, plots, tables  # doctest: +SKIP
"""

from denselab.report import audit, diagnosis, plots, tables
from denselab.report.diagnosis import diagnose
from denselab.report.html import Section, to_json, write_report

__all__ = ["Section", "audit", "diagnose", "diagnosis", "plots", "tables", "to_json", "write_report"]
