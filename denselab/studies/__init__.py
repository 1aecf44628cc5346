"""Built-in studies: the source documents' experiments, each one HTML report.

A study module exposes `run(out, *, data=None, target=None, quick=False, seed=0,
progress=None) -> dict` that writes `out/report.html` and `out/results.json`
(whose `tables` map a table name to a list of row objects) and returns the
results. `denselab study NAME` calls `run_study` and nothing else.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path

from denselab.errors import SpecError, suggest

STUDIES = {
    "rocks": "denselab.studies.rocks",
    "workshop": "denselab.studies.workshop",
    "synthetic2d": "denselab.studies.synthetic2d",
    "catalogue": "denselab.studies.catalogue",
}


def run_study(name: str, out=None, *, data=None, target=None, quick: bool = False, seed: int = 0,
              progress=None) -> dict:
    """Run the built-in study `name` and write its report into `out`.

    out: the report folder (default `runs/<name>-<timestamp>/`); the results say where (`out`).
    """
    if name not in STUDIES:
        raise SpecError(f"study: unknown study `{name}`{suggest(name, STUDIES)}; studies: {', '.join(STUDIES)}")
    from denselab.report.html import check_out_dir

    out = Path(out) if out else Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    check_out_dir(out)
    try:
        module = importlib.import_module(STUDIES[name])
    except ModuleNotFoundError:
        raise SpecError(f"study: `{name}` is not available in this version of denselab") from None
    results = module.run(out, data=data, target=target, quick=quick, seed=seed, progress=progress)
    return {**results, "out": str(out)}
