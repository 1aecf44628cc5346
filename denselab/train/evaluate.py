"""Honest scores: k-fold cross-validation on training rows, the held-out test, statistics.

A run's two scores on the comparison core (`plan.py`, which owns the splits, the
member seeds and the building of members: per member, the preprocessor is fitted on
that member's training rows only, noise augmentation touches those rows only, and an
inner validation split is carved from them when early stopping needs one): the CV of
one arm, and its refit on every training row scored on the test rows. Results are
plain per-member arrays plus a summary, as scikit-learn's `cross_validate` returns them.

Example:
    >>> from denselab.spec import Experiment
    >>> exp = Experiment.from_dict({"data": {"source": "iris"}, "train": {"epochs": 5},
    ...                             "evaluate": {"folds": 3}})
    >>> cv = cross_validate(exp)
    >>> len(cv.scores)
    3
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from denselab.data.prepare import Dataset
from denselab.models.build import Head
from denselab.spec import Experiment
from denselab.train.plan import Arm, ArmResult, Plan, Summary, make_member, run_engine

CVResult = ArmResult  # a run's CV is the comparison core's result for its one arm


@dataclass
class Holdout:
    """The configuration refit on all training rows and scored once on the test rows."""

    scores: dict
    history: dict
    weights: list
    predictions: np.ndarray
    preprocessor: object
    head: Head
    engine: str
    compile_s: float
    run_s: float


def cross_validate(experiment: Experiment, dataset: Dataset | None = None, *, data=None,
                   engine: str | None = None, progress=None) -> CVResult:
    """k-fold CV (× repeats × seeds) of `experiment` on the training rows of `dataset`.

    Args:
        experiment: the spec; `evaluate.folds`, `repeats`, `seeds` set the members.
        dataset: prepared arrays (default: loaded from `experiment.data`, or `data`).
        engine: `fleet` or `fit`, overriding `evaluate.engine`.
        progress: optional callback(done_epochs, total_epochs).
    """
    plan = Plan.cv(experiment, dataset, data=data)
    return plan.run([Arm(experiment.name, experiment)], engine=engine, progress=progress)[0]


def holdout(experiment: Experiment, dataset: Dataset, *, engine: str | None = None, progress=None) -> Holdout:
    """Refit on every training row and score once on the held-out test rows."""
    plan = Plan.holdout(experiment.replace(evaluate=replace(experiment.evaluate, seeds=1)), dataset)
    r = plan.run([Arm(experiment.name, experiment)], engine=engine, progress=progress)[0]
    m = r.members[0]
    return Holdout(scores=m.scores, history=m.history, weights=m.weights, predictions=m.predictions,
                   preprocessor=r.preprocessors[0], head=r.head, engine=r.engine,
                   compile_s=r.compile_s, run_s=r.run_s)


__all__ = ["cross_validate", "holdout", "CVResult", "Holdout", "Summary", "Plan", "Arm",
           "make_member", "run_engine"]
