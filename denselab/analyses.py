"""The source documents' comparative analyses, on any table: arms on one plan, one table each.

An *analysis* turns a base experiment (the user's spec, or denselab's defaults on
`--data FILE --target COLUMN`) into named arms that differ in one factor, trains
them on one plan (same splits, same member seeds: paired scores), adds the
baselines, and builds the comparison table (`denselab.comparison`). The factors and
the documents they come from:

| analysis | arms | source |
|---|---|---|
| architectures | depth × width × activation | rock tutorial's ladder; 2-D study's depth grid |
| training | optimizer × learning rate; batch size; epochs | workshop, lecture, 2-D study |
| regularization | none, dropout, L1, L2, early stopping (+ train−validation gap) | workshop's overfitting exercise |
| initializers | the 2-D study's Table III initializers | 2-D study |
| samples | 10 %–100 % of each fold's training rows | 2-D study's Fig. 3 |
| noise | gaussian copies: share × σ (σ in each feature's std) | 2-D study's Table I |
| activations, losses | the lecture's tables | lecture |
| overview | architectures, training (optimizer × learning rate), regularization, then the recommendation | all |

Owns the arms of each analysis (`ANALYSES`) and the overview's recommendation rule:
the simplest network (fewest parameters) not significantly worse than the best
network of all the analyses run, refit on all training rows and scored on the test
rows. Tables, tests and health counts come from `comparison`; pages from
`report/analysis_report.py`.

Example:
    >>> from denselab.analyses import arms_of
    >>> from denselab.spec import Experiment
    >>> base = Experiment.from_dict({"data": {"source": "iris"}})
    >>> [a.name for a in arms_of("samples", base, quick=True)]
    ['25 %', '100 %']
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import pandas as pd

from denselab import comparison
from denselab.report.notebook import ReportView
from denselab.errors import SpecError, suggest
from denselab.spec import Experiment, apply_override
from denselab.train.plan import Arm, Plan

ANALYSIS_NAMES = ("architectures", "training", "regularization", "initializers", "samples", "noise",
                  "activations", "losses", "overview")
OVERVIEW_PARTS = ("architectures", "training", "regularization")


def _arm(base: Experiment, name: str, params: dict, changes: dict, fraction: float = 1.0) -> Arm:
    """`base` with dotted-path `changes` (None removes a value), as a named arm."""
    raw = base.to_dict()
    for path, value in changes.items():
        apply_override(raw, f"{path}={json.dumps(value)}")
    return Arm(name, Experiment.from_dict(raw), params, fraction)


def _template(base: Experiment) -> dict:
    """The layer the architecture arms repeat: the base's first dense layer (default Dense 20 relu)."""
    dense = [layer for layer in base.to_dict()["model"]["hidden"] if layer["type"] == "dense"]
    return dict(dense[0]) if dense else {"type": "dense", "units": 20, "activation": "relu"}


def _every_layer(base: Experiment, **fields) -> dict:
    """Changes that set `fields` on every dense hidden layer (and on the template layer)."""
    raw = base.to_dict()["model"]
    changes = {f"model.hidden[{i}].{k}": v for i, layer in enumerate(raw["hidden"]) if layer["type"] == "dense"
               for k, v in fields.items()}
    if raw.get("layer"):
        changes.update({f"model.layer.{k}": v for k, v in fields.items()})
    return changes


def architectures(base: Experiment, quick: bool) -> list[Arm]:
    depths, widths, acts = ((1, 2), (8, 32), ("relu",)) if quick else ((1, 2, 3), (8, 32, 128), ("relu", "tanh"))
    layer = _template(base)
    return [_arm(base, f"{d}×{u} {a}", {"depth": d, "units": u, "activation": a},
                 {"model.depth": d, "model.units": None, "model.layer": {**layer, "units": u, "activation": a}})
            for a in acts for d in depths for u in widths]


def training(base: Experiment, quick: bool, schedule: bool = True) -> list[Arm]:
    """optimizer × learning rate; with `schedule`, also a smaller/larger batch and fewer/more epochs."""
    optimizers, rates = (("sgd", "adam"), (0.001, 0.01)) if quick else (("sgd", "adam", "rmsprop"),
                                                                          (0.001, 0.01, 0.1))
    arms = [_arm(base, f"{o} lr={lr:g}", {"optimizer": o, "learning_rate": lr, "batch_size": base.train.batch_size,
                                          "epochs": base.train.epochs},
                 {"train.optimizer": o, "train.learning_rate": lr, "train.momentum": 0.0, "train.nesterov": False})
            for o in optimizers for lr in rates]
    if schedule and not quick:
        e, b = base.train.epochs, base.train.batch_size
        for size in sorted({max(1, b // 4), b * 4} - {b}):
            arms.append(_arm(base, f"batch {size}", {"optimizer": base.train.optimizer, "learning_rate":
                             base.train.learning_rate, "batch_size": size, "epochs": e}, {"train.batch_size": size}))
        for epochs in sorted({max(1, e // 4), e * 2} - {e}):
            arms.append(_arm(base, f"{epochs} epochs", {"optimizer": base.train.optimizer, "learning_rate":
                             base.train.learning_rate, "batch_size": b, "epochs": epochs}, {"train.epochs": epochs}))
    return arms


def regularization(base: Experiment, quick: bool) -> list[Arm]:
    none = {**_every_layer(base, dropout=0.0, l1=0.0, l2=0.0), "train.patience": None}
    options = [("none", {}), ("dropout 0.2", {"dropout": 0.2}), ("L2 1e-3", {"l2": 1e-3})]
    if not quick:
        options += [("dropout 0.5", {"dropout": 0.5}), ("L1 1e-4", {"l1": 1e-4}), ("L1 1e-3", {"l1": 1e-3}),
                    ("L2 1e-4", {"l2": 1e-4})]
    arms = [_arm(base, name, {"remedy": name}, {**none, **_every_layer(base, **fields)}) for name, fields in options]
    patience = max(3, base.train.epochs // 10)
    arms.append(_arm(base, f"early stopping (patience {patience})", {"remedy": "early stopping"},
                     {**none, "train.patience": patience}))
    return arms


def initializers(base: Experiment, quick: bool) -> list[Arm]:
    names = ("glorot_uniform", "he_normal", "zeros") if quick else \
        ("glorot_uniform", "he_normal", "random_normal", "random_uniform", "truncated_normal", "orthogonal",
         "zeros", "ones")
    return [_arm(base, name, {"initializer": name}, {"model.kernel_initializer": name, **_every_layer(
        base, kernel_initializer=None)}) for name in names]


def samples(base: Experiment, quick: bool) -> list[Arm]:
    fractions = (0.25, 1.0) if quick else (0.1, 0.25, 0.5, 0.75, 1.0)
    return [_arm(base, f"{f:.0%}".replace("%", " %"), {"fraction": f}, {}, fraction=f) for f in fractions]


def noise(base: Experiment, quick: bool) -> list[Arm]:
    grid = ((1.0, 0.1),) if quick else ((0.5, 0.05), (0.5, 0.2), (1.0, 0.05), (1.0, 0.2), (2.0, 0.1))
    off = {"train.noise_units": "std"}
    arms = [_arm(base, "no noise", {"share": 0.0, "sigma_std": 0.0}, {**off, "train.noise_fraction": 0.0,
                                                                      "train.noise_sigma": 0.0})]
    arms += [_arm(base, f"share {share:g}, σ {sigma:g} std", {"share": share, "sigma_std": sigma},
                  {**off, "train.noise_fraction": share, "train.noise_sigma": sigma}) for share, sigma in grid]
    return arms


def activations(base: Experiment, quick: bool) -> list[Arm]:
    names = ("relu", "tanh", "linear") if quick else ("relu", "tanh", "sigmoid", "elu", "selu", "gelu",
                                                       "softplus", "leaky_relu", "linear")
    return [_arm(base, name, {"activation": name}, _every_layer(base, activation=name)) for name in names]


def losses(base: Experiment, quick: bool, task: str, n_classes: int) -> list[Arm]:
    if task == "regression":
        names = ("mse", "mae") if quick else ("mse", "mae", "huber")
    elif n_classes == 2:
        names = ("binary_crossentropy", "mse") if quick else ("binary_crossentropy", "mse", "mae")
    else:
        names = ("categorical_crossentropy", "hinge") if quick else \
            ("categorical_crossentropy", "l1", "l2", "hinge", "squared_hinge", "expectation",
             "regularised_expectation", "tanimoto")
    return [_arm(base, name, {"loss": name}, {"train.loss": name, "model.output_activation": None})
            for name in names]


ANALYSES = {"architectures": architectures, "training": training, "regularization": regularization,
            "initializers": initializers, "samples": samples, "noise": noise, "activations": activations}


def arms_of(name: str, base: Experiment, quick: bool = False, task: str = "classification",
            n_classes: int = 3, overview: bool = False) -> list[Arm]:
    """The arms of analysis `name` on `base` (quick: a smaller set; overview: its budget, where
    `training` leaves out the batch-size and epoch arms, the slowest to train)."""
    if name == "losses":
        return losses(base, quick, task, n_classes)
    if name == "training":
        return training(base, quick, schedule=not overview)
    if name not in ANALYSES:
        raise SpecError(f"analysis: unknown `{name}`{suggest(name, ANALYSIS_NAMES)}; analyses: "
                        f"{', '.join(ANALYSIS_NAMES)}")
    return ANALYSES[name](base, quick)


@dataclass
class AnalysisResult:
    """One analysis: its arms' results, the comparison table (contract of `comparison`), its verdict."""

    name: str
    table: object  # DataFrame
    verdict: str
    results: list
    wall_s: float
    notes: list = field(default_factory=list)


def analyse(name: str, plan: Plan, base: Experiment, *, quick: bool = False, baselines=None, engine=None,
            progress=None, overview: bool = False) -> AnalysisResult:
    """Train the arms of `name` on `plan` and compare them with the baselines (scored once per plan)."""
    started = time.perf_counter()
    ds = plan.dataset
    arms = arms_of(name, base, quick, ds.task, ds.n_targets, overview)
    results = plan.run(arms, engine=engine, progress=progress)
    frame = comparison.table(plan, results, baselines)
    notes = sorted({n for r in results for n in r.notes} | {n for b in baselines or [] for n in b.notes})
    return AnalysisResult(name, frame, comparison.verdict(frame), results, time.perf_counter() - started, notes)


def recommend(plan: Plan, parts: list[AnalysisResult]) -> dict:
    """The simplest network not significantly worse than the best of every arm run (overview rule)."""
    results = {r.name: r for part in parts for r in part.results}
    frame = comparison.table(plan, list(results.values()))
    row = frame[frame["recommended"]].iloc[0] if frame["recommended"].any() else frame.iloc[0]
    return {"name": row["name"], "table": frame, "arm": results[row["name"]], "mean": float(row["mean"]),
            "n_params": int(row["n_params"]), "best": frame.iloc[0]["name"]}


ANALYSIS_DEFAULTS = ["evaluate.folds=5", "train.epochs=50"]  # --data without a spec: a few minutes on 2 cores
QUICK = ["evaluate.folds=3", "train.epochs=10"]


def base_experiment(name: str, *, spec=None, data=None, target=None, overrides=None, quick=False) -> Experiment:
    """The analysis's base: the spec (its data and network), or the defaults on `data`/`target`."""
    from denselab.spec import load, with_overrides

    sized = QUICK if quick else ([] if spec is not None else ANALYSIS_DEFAULTS)
    if spec is not None:
        exp = load(spec, sized + list(overrides or []))
        if data is not None or target is not None:
            raw = exp.to_dict()
            raw["data"].update({k: v for k, v in (("source", data), ("target", target)) if v is not None})
            exp = Experiment.from_dict(raw)
        return exp
    if data is None:
        raise SpecError(f"study {name}: give your table with --data FILE --target COLUMN (or --spec SPEC.yaml)")
    raw = {"name": f"{name}", "data": {"source": str(data), **({"target": target} if target is not None else {})}}
    return with_overrides(raw, sized + list(overrides or []))


def study(name: str, out=None, *, spec=None, data=None, target=None, overrides=None, quick: bool = False,
          engine=None, progress=None) -> dict:
    """`denselab study NAME --data FILE --target COLUMN`: one analysis (or the overview) → report.

    Returns the results (what results.json holds) with `out`.
    """
    from datetime import datetime
    from pathlib import Path

    from denselab.data.prepare import load_dataset
    from denselab.progress import phase
    from denselab.report import analysis_report
    from denselab.report.html import check_out_dir

    if name not in ANALYSIS_NAMES:
        raise SpecError(f"study: unknown analysis `{name}`{suggest(name, ANALYSIS_NAMES)}")
    base = base_experiment(name, spec=spec, data=data, target=target, overrides=overrides, quick=quick)
    out = Path(out) if out else Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    check_out_dir(out)
    started = time.perf_counter()
    ds = load_dataset(base.data, base.seed)
    plan = Plan.cv(base, ds)
    baselines = comparison.score_baselines(plan)
    names = OVERVIEW_PARTS if name == "overview" else (name,)
    parts = [analyse(n, plan, base, quick=quick, baselines=baselines, engine=engine,
                     progress=phase(progress, n), overview=name == "overview") for n in names]
    extra = _overview(plan, base, parts, engine, phase(progress, "refit")) if name == "overview" else None
    intro = (f"Analysis `{name}` of `{ds.target}` ({ds.task}) from {len(ds.feature_names)} feature(s): "
             f"{len(ds.y_train)} training rows (cross-validated), {len(ds.y_test)} held-out test rows. "
             f"Base network: {_describe(base)}; {base.train.optimizer}, learning rate {base.train.learning_rate:g}, "
             f"{base.train.epochs} epochs, batch {base.train.batch_size}. Primary metric: {plan.metric}.")
    sections, tables, raw = analysis_report.compose(intro, parts, plan, extra)
    results = _ready(raw)
    results["wall_s"] = time.perf_counter() - started
    analysis_report.write(out, f"denselab · {name}", sections, tables, results)
    return StudyResult({**results, "out": str(out)}, lambda: analysis_report.compose(intro, parts, plan, extra)[:2],
                       f"denselab study · {name}")


def _ready(results: dict) -> dict:
    """What results.json holds (plain JSON: NaN → null), as the caller gets it back."""
    from denselab.report.html import to_json

    return json.loads(to_json(results))


class StudyResult(ReportView, dict):
    """An analysis's results (what results.json holds, plus `out`) that shows itself in a notebook:
    the verdicts as headline, the comparison tables and charts (`table(name)`, `figure(name)`)."""

    def __init__(self, results: dict, compose, title: str):
        super().__init__(results)
        self._recompose, self._name = compose, title

    def _compose(self):
        return self._recompose()

    def _title(self) -> str:
        return self._name

    def _headline(self) -> list:
        lines = list(self.get("verdicts", {}).values())
        rec = self.get("recommended")
        if rec:
            test = ", ".join(f"test {k} {v:.4f}" for k, v in rec["test"].items() if k not in ("n", "ci_low", "ci_high")
                             and isinstance(v, float))
            lines.insert(0, f"recommended: {rec['name']} ({rec['n_params']} parameters; {test})")
        return lines


def _describe(exp: Experiment) -> str:
    layers = [f"{layer.units} {layer.activation or 'relu'}" if layer.units else layer.type for layer in exp.model.hidden]
    return "Dense " + " → ".join(layers) if layers else "no hidden layer"


def _overview(plan: Plan, base: Experiment, parts: list, engine, progress) -> dict:
    from denselab import metrics
    from denselab.report.html import Section
    from denselab.train.evaluate import holdout

    pick = recommend(plan, parts)
    arm = pick["arm"]
    final = holdout(arm.experiment, plan.dataset, engine=engine, progress=progress)
    ds = plan.dataset
    metric = plan.metric
    y_pred = final.predictions
    test = metrics.score(metric, ds.y_test, y_pred, ds.n_targets if ds.task == "classification" else None) \
        if len(ds.y_test) else math.nan
    low, high = metrics.test_interval(metric, ds.y_test, y_pred, plan.experiment.seed,
                                      ds.n_targets if ds.task == "classification" else None) \
        if len(ds.y_test) else (math.nan, math.nan)
    factors = []
    for part in parts:
        nets = part.table[part.table["kind"] == "network"]
        worse = int((~nets["tied_with_best"]).sum())
        factors.append({"analysis": part.name, "best_arm": nets.iloc[0]["name"], "best_mean": nets.iloc[0]["mean"],
                        "worst_arm": nets.iloc[-1]["name"], "worst_mean": nets.iloc[-1]["mean"],
                        "spread": abs(nets.iloc[0]["mean"] - nets.iloc[-1]["mean"]), "arms": len(nets),
                        "significantly_worse": worse,
                        "effect": "detectable" if worse else "no detectable difference"})
    factors = pd.DataFrame(factors)
    text = (f"Recommended network: `{pick['name']}` ({pick['n_params']} parameters), the network with the fewest "
            f"parameters among those tied with the best (`{pick['best']}`) over all {len(pick['table'])} arms "
            f"above (CV {metric} {pick['mean']:.4f}). Refit on all {len(ds.y_train)} training rows, its "
            f"test {metric} is {test:.4f} (95 % interval {low:.4f}–{high:.4f}, n = {len(ds.y_test)}). The "
            "CV scores above are optimistic for the arm they select (chosen on those folds); the test score "
            "is the unbiased one. The factors table says, per analysis, how far its arms spread and how many "
            "were significantly worse than its best.")
    section = Section("Recommendation", text, tables=["overview_arms", "factors"])
    return {"section": section, "tables": {"overview_arms": pick["table"], "factors": factors},
            "results": {"recommended": {"name": pick["name"], "n_params": pick["n_params"], "cv_mean": pick["mean"],
                                        "best": pick["best"], "arms_compared": len(pick["table"]),
                                        "spec_yaml": arm.experiment.to_yaml(), "test": {metric: test, "n": int(
                                            len(ds.y_test)), "ci_low": low, "ci_high": high}}}}


__all__ = ["ANALYSIS_NAMES", "ANALYSES", "arms_of", "analyse", "recommend", "study", "AnalysisResult"]
