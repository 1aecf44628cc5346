"""Built-in studies: the source documents' experiments, each one HTML report.

A study module exposes `run(out, *, data=None, target=None, quick=False, seed=0,
progress=None) -> dict` that writes `out/report.html` and `out/results.json`
(whose `tables` map a table name to a list of row objects) and returns the
results; a study with a full-size variant (`FULL_SIZE`, synthetic2d's whole grid)
also takes `full=False`. `denselab study NAME` calls `run_study` and nothing else.
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
FULL_SIZE = ("synthetic2d",)  # studies whose run() takes full=True


def run_study(name: str, out=None, *, data=None, target=None, quick: bool = False, full: bool = False,
              seed: int = 0, progress=None, spec=None, overrides=None) -> dict:
    """Run the built-in study or analysis `name` and write its report into `out`.

    out: the report folder (default `runs/<name>-<timestamp>/`); the results say where (`out`).
    full: the study's full-size variant (synthetic2d only: the whole 2 000-point grid).
    spec, overrides: an analysis's base spec and `--set` overrides (`denselab.analyses`).

    Example:
        >>> import denselab
        >>> r = denselab.study("samples", data="penguins.csv", target="species", quick=True)  # doctest: +SKIP
        >>> r["tables"]["samples"][0]["name"]                                                 # doctest: +SKIP
    """
    from denselab.analyses import ANALYSIS_NAMES

    if name in ANALYSIS_NAMES:
        if full:
            raise SpecError(f"study --full: only {', '.join(FULL_SIZE)} has a full-size variant; drop --full for {name}")
        from denselab.analyses import study

        extra = [f"seed={seed}"] if seed else []
        return study(name, out, spec=spec, data=data, target=target, overrides=extra + list(overrides or []),
                     quick=quick, progress=progress)
    if spec is not None or overrides:
        raise SpecError(f"study {name}: --spec and --set go with the analyses ({', '.join(ANALYSIS_NAMES)}); "
                        f"the built-in study `{name}` takes --data, --target, --quick, --seed")
    if name not in STUDIES:
        raise SpecError(f"study: unknown study `{name}`{suggest(name, (*STUDIES, *ANALYSIS_NAMES))}; studies: "
                        f"{', '.join(STUDIES)}; analyses of your table: {', '.join(ANALYSIS_NAMES)}")
    if full and name not in FULL_SIZE:
        raise SpecError(f"study --full: only {', '.join(FULL_SIZE)} has a full-size variant; drop --full for {name}")
    if full and quick:
        raise SpecError("study --full and --quick: choose one (--quick is the smoke run, --full the whole grid)")
    from denselab.report.html import check_out_dir

    out = Path(out) if out else Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    check_out_dir(out)
    try:
        module = importlib.import_module(STUDIES[name])
    except ModuleNotFoundError:
        raise SpecError(f"study: `{name}` is not available in this version of denselab") from None
    options = {"full": True} if full else {}
    results = module.run(out, data=data, target=target, quick=quick, seed=seed, progress=progress, **options)
    return {**results, "out": str(out)}
