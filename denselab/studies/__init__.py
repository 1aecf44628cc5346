"""Built-in studies: the source documents' experiments, each one HTML report.

A study module exposes `run(out, *, data=None, target=None, quick=False, seed=0,
progress=None) -> dict` that writes `out/report.html` and `out/results.json`
(whose `tables` map a table name to a list of row objects) and returns the
results. `denselab study NAME` calls `run_study` and nothing else.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from denselab.errors import SpecError, suggest

STUDIES = {
    "rocks": "denselab.studies.rocks",
    "workshop": "denselab.studies.workshop",
    "synthetic2d": "denselab.studies.synthetic2d",
    "catalogue": "denselab.studies.catalogue",
}


def run_study(name: str, out, *, data=None, target=None, quick: bool = False, seed: int = 0,
              progress=None) -> dict:
    """Run the built-in study `name` and write its report into `out`."""
    if name not in STUDIES:
        raise SpecError(f"study: unknown study `{name}`{suggest(name, STUDIES)}; studies: {', '.join(STUDIES)}")
    from denselab.report.html import check_out_dir

    check_out_dir(Path(out))
    try:
        module = importlib.import_module(STUDIES[name])
    except ModuleNotFoundError:
        raise SpecError(f"study: `{name}` is not available in this version of denselab") from None
    return module.run(Path(out), data=data, target=target, quick=quick, seed=seed, progress=progress)
