"""The concepts catalogue: every activation, loss, optimizer and topology of the lecture, trained.

The lecture ("Neural networks and Keras") lists activation functions, the loss functions
of Janocha & Czarnecki (2017), the Keras optimizers and three topologies. Each part is arms
of one plan (`train.plan`: same folds, same member seeds, so scores are paired) and one
comparison table (`denselab.comparison`: mean, sample std, n, 95 % interval, tests against
the best, diverged / collapsed members):

- `activations`: the hidden activation of a Dense 20 → Dense 20 net × f1, f2, f3 (N = 1000)
  and iris; the best one beside the baselines; "linear activations give linear decisions"
  as findings (relu vs identity) and decision maps;
- `losses`: the catalogue's 12 losses × the same sets (hidden relu), with seconds per epoch;
- `optimizers`: six optimizers × learning rates 0.001 … 1 on f1 (the rates of one optimizer
  are members of one engine call);
- `topologies` (`catalogue_topologies`: dense, convolutional and recurrent nets, seeds on a
  holdout split), `derivatives` (`catalogue_derivatives`), the Keras workflow
  (`catalogue_workflow`).

Scores are 3-fold CV on the training rows, 30 epochs (iris 100: its folds are 3 steps per
epoch), batch 32, Adam 0.001 unless the table varies it; iris keeps 20 % as an unused test
set. Losses with a one-hot output get two units on the binary sets; `binary_step` trains
through its straight-through estimator.

Owns: the lists, sizes and networks of the CV parts, the findings and the results; figures
and the page are `report/catalogue_report.py`.

Example:
    >>> from denselab.studies import catalogue
    >>> results = catalogue.run("runs/catalogue-quick", quick=True)   # doctest: +SKIP
    >>> results["tables"]["findings"][0]["verdict"]                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from denselab import comparison
from denselab.data.prepare import load_dataset
from denselab.errors import DataError
from denselab.progress import phase
from denselab.report import catalogue_report
from denselab.report.catalogue_report import mean_curve
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.studies import catalogue_topologies as topo
from denselab.studies import findings as fnd
from denselab.studies.catalogue_derivatives import DERIVATIVE_X, LECTURE_ACTIVATIONS, PRELU_ALPHA, derivatives_table
from denselab.studies.catalogue_workflow import run_workflow
from denselab.train.plan import Arm, Plan
from denselab.workflow import manifest

ACTIVATIONS = LECTURE_ACTIVATIONS + ("selu", "gelu", "swish", "softsign", "leaky_relu")  # + Keras's usual ones
LOSSES = ("l1", "l2", "expectation", "regularised_expectation", "chebyshev", "hinge", "squared_hinge",
          "cubed_hinge", "log", "squared_log", "tanimoto", "cauchy_schwarz")
OPTIMIZERS = ("sgd", "adam", "adadelta", "adagrad", "rmsprop", "nadam")
LEARNING_RATES = (0.001, 0.01, 0.1, 1.0)
DATASETS = ("f1", "f2", "f3", "iris")
OPTIMIZER_DATA = "f1"
LINEAR_PAIR = ("relu", "identity")  # the lecture's "linear activations give linear decisions"
N, FOLDS, EPOCHS, BATCH, HIDDEN = 1000, 3, 30, 32, 20
IRIS_EPOCHS = 100  # iris has 80 training rows per fold: 3 steps per epoch, 30 epochs would be 90 steps
REFERENCES = {"losses": "Janocha & Czarnecki (2017), On loss functions for deep neural networks in classification"}
QUICK = {"n": 300, "folds": 2, "epochs": 3, "datasets": ("f1", "iris"),
         "activations": ("identity", "relu", "binary_step", "prelu"), "losses": ("tanimoto",),
         "optimizers": ("sgd", "adam"), "learning_rates": (0.01, 0.1), "digits_epochs": 2, "sunspot_epochs": 5,
         "rnns": ("gru",), "topology_seeds": 2}


def dense_model(activation: str = "relu") -> ModelSpec:
    """Dense 20 → Dense 20, both with `activation`; the output layer comes from the head."""
    return ModelSpec(hidden=(LayerSpec(units=HIDDEN, activation=activation),) * 2)


def epochs_for(label: str, epochs: int, quick: bool = False) -> int:
    """The epochs of a data set: iris (few rows, few steps per epoch) gets IRIS_EPOCHS."""
    return IRIS_EPOCHS if label == "iris" and not quick else epochs


def data_spec(name: str, n: int, seed: int) -> DataSpec:
    """Generated sets: all N rows are CV rows; real sets keep 20 % as a (here unused) test set."""
    return DataSpec(source=name, n=n, seed=seed, test_size=0.0) if name in ("f1", "f2", "f3") else \
        DataSpec(source=name, seed=seed)


def _base(seed: int, folds: int, epochs: int) -> Experiment:
    """The CV parts' experiment: the arms change its model and training; the plan brings the rows."""
    return Experiment(data=DataSpec(source="iris"), model=dense_model(), seed=seed,
                      train=TrainSpec(batch_size=BATCH, epochs=epochs), evaluate=EvalSpec(folds=folds, engine="fleet"))


def _arm(plan: Plan, name: str, params: dict, model: ModelSpec | None = None, **train) -> Arm:
    exp = plan.experiment
    return Arm(name, exp.replace(model=model or exp.model, train=dataclasses.replace(exp.train, **train)), params)


def _run(plan: Plan, arms: list, progress, name: str) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return plan.run(arms, progress=phase(progress, name))


def _table(plan: Plan, results: list, baselines=None, **columns) -> pd.DataFrame:
    """`comparison.table` with each arm's engine seconds and final held-out loss beside it."""
    finite = [r.losses[np.isfinite(r.losses)] for r in results]
    facts = pd.DataFrame([{"name": r.name, "final_loss": float(f.mean()) if len(f) else math.nan,
                           "compile_s": r.compile_s, "run_s": r.run_s, "seconds": r.compile_s + r.run_s,
                           "seconds_per_epoch": r.run_s / r.experiment.train.epochs,
                           "output": r.head.output_activation} for r, f in zip(results, finite)])
    frame = comparison.table(plan, results, baselines).merge(facts, on="name", how="left")
    for i, (key, value) in enumerate(columns.items()):  # the data set first
        frame.insert(i, key, value)
    return frame


def per_dataset(kind: str, names, plans: dict, progress, quick: bool) -> tuple:
    """One arm per name (`kind`: activation or loss) on each data set's plan → (table, curves, results)."""
    tables, curves, results = [], [], {}
    for label, plan in plans.items():
        epochs = epochs_for(label, plan.experiment.train.epochs, quick)
        arms = [_arm(plan, name, {kind: name, "epochs": epochs}, dense_model(name) if kind == "activation" else None,
                     epochs=epochs, **({"loss": name} if kind == "loss" else {})) for name in names]
        # one engine call per arm: the fleet's packs of several activations cannot resolve denselab's own
        # (binary_step, arctan, prelu ...), and a call per arm keeps each arm's seconds its own
        rs = [_run(plan, [arm], progress, f"{kind} {arm.name} · {label}")[0] for arm in arms]
        results[label] = {r.name: r for r in rs}
        tables.append(_table(plan, rs, dataset=label))
        curves += [{"dataset": label, kind: r.name, "val_accuracy": mean_curve(r.histories, "val_accuracy")}
                   for r in rs]
    return pd.concat(tables, ignore_index=True), curves, results


def optimizers(names, rates, plan: Plan, progress) -> tuple:
    """Optimizer × learning rate on one plan: one engine call per optimizer, its rates are member data."""
    rs = []
    for o in names:
        rs += _run(plan, [_arm(plan, f"{o} lr={lr:g}", {"optimizer": o, "learning_rate": float(lr)}, optimizer=o,
                               learning_rate=float(lr)) for lr in rates], progress, f"optimizer {o}")
    y = plan.dataset.y_train
    table = _table(plan, rs).assign(chance=float(np.bincount(y).max() / len(y)))  # always the majority class
    return table, [{**r.params, **{k: mean_curve(r.histories, k) for k in ("loss", "val_loss")}} for r in rs]


def _members(results: dict) -> pd.DataFrame:
    """Every member's score by data set, activation and (repeat, fold, seed)."""
    return pd.DataFrame([{"dataset": label, "activation": r.name, "repeat": int(rp), "fold": int(f), "seed": int(s),
                          "accuracy": float(a)} for label, rs in results.items() for r in rs.values()
                         for rp, f, s, a in zip(r.repeat, r.fold, r.seed, r.scores)])


def _findings(results: dict, plans: dict) -> list:
    """The lecture's "linear activations give linear decisions" on each data set: relu against
    identity, paired on the same folds (`findings.higher`)."""
    source = "Linear activations give linear decisions no matter the network size (lecture, \"Non linear decision\")"
    a, b = LINEAR_PAIR
    out = []
    for label, rs in results.items():
        if a not in rs or b not in rs:
            out.append(fnd.Finding(source, label, fnd.UNTESTABLE, f"this run did not train both {a} and {b}"))
            continue
        verdict, evidence, got = fnd.higher(comparison.table(plans[label], [rs[a], rs[b]]), a, b)
        out.append(fnd.Finding(source, f"{label}: CV accuracy, {a} vs {b} (identity: a linear net)", verdict,
                               evidence, got))
    return out


def run(out, *, data=None, target=None, quick: bool = False, seed: int = 0, progress=None) -> dict:
    """Run the catalogue and write `out/report.html`, `results.json` and one CSV per table.

    Args:
        out: the report folder (must not exist yet, or be empty).
        data, target: not used: the study uses its built-in sets (giving them is an error).
        quick: a few names, tiny sizes, 2-3 epochs: a smoke run of the page.
        seed: root seed of the generated points, folds, initial weights and shuffles.
        progress: callback(done_epochs, total_epochs, phase).
    """
    if data is not None or target is not None:
        raise DataError("catalogue: the study uses its own built-in data (f1, f2, f3, iris, digits, sunspots); "
                        "drop --data/--target, or run `denselab run` on your data")
    started, cpu_started, timing = time.perf_counter(), time.process_time(), {}
    q = QUICK if quick else {}
    n, folds, epochs, sets = q.get("n", N), q.get("folds", FOLDS), q.get("epochs", EPOCHS), q.get("datasets", DATASETS)
    names = {k: list(q.get(k, v)) for k, v in (("activations", ACTIVATIONS), ("losses", LOSSES),
                                                ("optimizers", OPTIMIZERS), ("learning_rates", LEARNING_RATES))}
    topology = {"digits_epochs": q.get("digits_epochs", topo.DIGITS_EPOCHS), "rnns": list(q.get("rnns", topo.RNNS)),
                "sunspot_epochs": q.get("sunspot_epochs", topo.SUNSPOT_EPOCHS),
                "n_seeds": q.get("topology_seeds", topo.TOPOLOGY_SEEDS)}
    plans = {d: Plan.cv(_base(seed, folds, epochs), load_dataset(data_spec(d, n, seed), seed)) for d in sets}
    opt_data = OPTIMIZER_DATA if OPTIMIZER_DATA in sets else sets[0]

    def timed(part, fn, *args, **kwargs):
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        timing[f"{part}_s"] = time.perf_counter() - t
        return value

    derivs, deriv_curves = timed("derivatives", derivatives_table, ACTIVATIONS)
    act, act_curves, act_results = timed("activations", per_dataset, "activation", names["activations"], plans,
                                         progress, quick)
    loss, loss_curves, _ = timed("losses", per_dataset, "loss", names["losses"], plans, progress, quick)
    opt, opt_curves = timed("optimizers", optimizers, names["optimizers"], names["learning_rates"], plans[opt_data],
                            progress)
    topologies, topo_curves = timed("topologies", topo.topologies, seed, progress=progress, **topology)
    workflow, workflow_numbers = timed("keras_workflow", run_workflow, seed, epochs_for("iris", epochs, quick))
    timing["wall_s"] = time.perf_counter() - started
    timing["cpu_s"] = time.process_time() - cpu_started  # all threads: less sensitive to a loaded machine

    iris = plans["iris"].dataset if "iris" in plans else None
    fold_rows = len(iris.y_train) * (folds - 1) // folds if iris else 0
    settings = {**names, "n": n, "folds": folds, "epochs": epochs, "batch_size": BATCH,
                "iris_epochs": epochs_for("iris", epochs, quick), "learning_rate": TrainSpec().learning_rate,
                "hidden": f"Dense {HIDDEN} → Dense {HIDDEN}", "datasets": list(sets), "optimizer_data": opt_data,
                "topology": {**topology, "test_years": topo.SUNSPOT_TEST_YEARS, "sunspot_learning_rate":
                             topo.SUNSPOT_LR, "rnn_units": topo.RNN_UNITS, "baselines": list(topo.BASELINES)},
                "loss_reference": REFERENCES["losses"].split(",")[0], "prelu_plot_alpha": PRELU_ALPHA,
                "derivative_x_range": list(DERIVATIVE_X),
                **({"iris_rows_train": len(iris.y_train), "iris_rows_test": len(iris.y_test),
                    "iris_fold_rows": fold_rows, "iris_steps_per_epoch": math.ceil(fold_rows / BATCH)} if iris else {})}
    found, members = _findings(act_results, plans), _members(act_results)
    versus = pd.concat([comparison.best_versus_baselines(plans[label], part, "activation").assign(dataset=label)
                        for label, part in members.groupby("dataset", sort=False)], ignore_index=True)
    verdicts = versus.groupby("dataset", sort=False)["verdict"].first().to_dict()  # one sentence per data set
    frames = {"findings": fnd.frame(found), "findings_numbers": fnd.numbers(found), "activations": act,
              "activations_vs_baselines": versus.drop(columns="verdict"), "activation_members": members,
              "losses": loss, "optimizers": opt, "topologies": topologies, "topology_data": topo.topology_data(seed),
              "derivatives": derivs, "keras_workflow": workflow,
              "timing": pd.DataFrame([{"part": k.removesuffix("_s"), "seconds": v} for k, v in timing.items()])}
    curves = {"activations": act_curves, "losses": loss_curves, "optimizers": opt_curves}
    results = {"name": "catalogue", "study": "catalogue", "quick": quick, "settings": settings,
               "references": REFERENCES, "rules": fnd.RULE_NUMBERS, "findings_counts": fnd.counts(frames["findings"]),
               "verdicts": verdicts, "manifest": manifest(seed), "timing": timing, "keras_workflow": workflow_numbers,
               "curves": curves, "tables": {k: f.to_dict(orient="records") for k, f in frames.items()}}
    nets = {(label, name): (r, plans[label].dataset) for label, rs in act_results.items() for name, r in rs.items()
            if name in LINEAR_PAIR and len(plans[label].dataset.feature_names) == 2}
    sections = catalogue_report.sections(results, frames, {**curves, "derivatives": deriv_curves,
                                                           "topologies": topo_curves}, nets)
    catalogue_report.write(Path(out), sections, results, frames)
    return results
