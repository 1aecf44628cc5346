"""Hyperparameter search: a space written in the spec, Optuna ask/tell, fleets per structure.

- `space`: searched fields (inline lists and ranges, or a `search:` section of dotted
  paths) and the grid / random / TPE samplers.
- `runner.search`: runs `loop` (claim → the study's plan trains the trials, one engine
  call per structure group → tell) until the study has its trials; the best
  configuration is refit and scored once on the test rows.
- `worker.work`: one more process on the same study (`denselab worker`), any machine.
- `status.status` / `status.render`: where a study stands (`denselab status`).
- `store`: the results database (Optuna storage, `sqlite:///denselab.db` by default),
  password masking, waiting out outages, the study lock.
- `recovery`: owners, heartbeats, orphaned trials and the retry budget.
- `pgserver`: a throwaway PostgreSQL server (the workers' tests and benchmark).
- statistics and the comparison table: `denselab.stats`, `denselab.comparison`.

Example:
    >>> from denselab.search import search                               # doctest: +SKIP
    >>> result = search("iris-search", trials=8, out="runs/iris-search")  # doctest: +SKIP
"""

import sys
import types

from denselab.search.runner import SearchResult, search
from denselab.train.engine import split_hparams
from denselab.search.space import Param, Space, parse
from denselab.search.store import DEFAULT_STORAGE, mask_url
from denselab.search.worker import WorkResult, work
from denselab.stats import TTest, corrected_ttest



class _CallablePackage(types.ModuleType):
    """`denselab.search(spec)` calls the function although `denselab.search` is this package:
    `denselab` loads lazily, so importing any `denselab.search.*` module binds the package
    there (before, an eager import in `denselab/__init__` rebound the name to the function)."""

    def __call__(self, *args, **kwargs):
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = [
    "search", "SearchResult", "split_hparams", "parse", "Space", "Param", "corrected_ttest",
    "TTest", "mask_url", "DEFAULT_STORAGE", "work", "WorkResult",
]
