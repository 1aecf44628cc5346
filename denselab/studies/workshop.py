"""Teichert's Keras workshop: an underfit regression, an overfit iris net, a CNN on digits.

Three exercises on the workshop's own files and its own train/test split (regression
110 training + 40 test rows, iris `iris_training.csv` 120 + `iris_test.csv` 30):

1. Regression of a 2-input surface: the net as given (2 × 5 relu, Adagrad 0.1) and a
   fixed one (3 × 50 relu), both arms of one plan: CV MSE with intervals, test MSE,
   the surfaces in 3-D (training points red, test points blue).
2. Iris with the workshop's 1000-500-70 relu net for its 2000 epochs, and each remedy
   it names: dropout 0.4, L1 and L2 0.01 on every kernel, early stopping (patience
   10), all arms of one plan (same folds, same seeds). Per arm: CV accuracy with its
   interval, the train − validation gap, the held-out cross-entropy computed from the
   predictions (no penalty term, so L1/L2 arms compare fairly), the interval diagnosis
   (`report.diagnosis.interval_verdict`), and the two new flowers predicted with
   probabilities (the workshop expects classes 1 and 2).
3. The workshop's MNIST CNN on MNIST when `~/.keras/datasets/mnist.npz` is there
   (never downloaded), else on the bundled 8×8 `digits`, stated.

Owns: the arms, the CNN spec and its training settings, the findings. Figures and the
page are in `report/workshop_report.py`.

Example:
    >>> from denselab.studies import workshop
    >>> results = workshop.run("runs/workshop-quick", quick=True)   # doctest: +SKIP
    >>> results["tables"]["findings"][0]["verdict"]                 # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from denselab import comparison
from denselab.data.prepare import Dataset, from_frame, load_dataset
from denselab.data.sources import read_table
from denselab.errors import DataError
from denselab.progress import phase
from denselab.report import diagnosis, workshop_report
from denselab.report.analysis_report import gap_table
from denselab.spec import Experiment, load
from denselab.studies import findings as fnd
from denselab.train.evaluate import holdout
from denselab.train.plan import Arm, Plan
from denselab.trained import TrainedModel
from denselab.workflow import manifest

OWN_TRAIN_ROWS = {"workshop-regression": 110, "workshop-iris": 120}  # the workshop's *_train / *_training files
REGRESSION = (("as given (2×5 relu)", "workshop-regression-underfit"),
              ("fixed (3×50 relu)", "workshop-regression-fixed"))
PENALTY = 0.01  # the workshop's keras.regularizers.l2(0.01) ("and similarly for L1")
PATIENCE = 10  # the workshop's EarlyStopping(patience=10)
IRIS_EPOCHS = 2000  # the workshop's model.fit(..., epochs=2000)
IRIS = (("as given (1000-500-70)", "workshop-iris-overfit", []),
        ("dropout 0.4", "workshop-iris-dropout", []),
        (f"L1 {PENALTY}", "workshop-iris-overfit", [f"model.hidden[{i}].l1={PENALTY}" for i in range(3)]),
        (f"L2 {PENALTY}", "workshop-iris-overfit", [f"model.hidden[{i}].l2={PENALTY}" for i in range(3)]),
        (f"early stopping (patience {PATIENCE})", "workshop-iris-overfit", [f"train.patience={PATIENCE}"]))
FLOWERS = ([6.4, 3.2, 4.5, 1.5], [5.8, 3.1, 5.0, 1.7])
EXPECTED = [1, 2]  # "The code should predict classes 1 and 2, respectively, for the two new samples."
WORKSHOP = {"iris_epochs": IRIS_EPOCHS, "mnist_train_images": 60000, "mnist_test_accuracy_above": 0.98}
CNN_LAYERS = [
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 4, "kernel_size": 5, "activation": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 16, "kernel_size": 5, "activation": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 100, "activation": "relu", "dropout": 0.4},
]
# digits has 1 437 training images against MNIST's 60 000: Adam 0.001, batch 32, 30 epochs (~1 350 steps)
# instead of the workshop's Adagrad 0.01, batch 100, 5 epochs (3 000 steps); ~97-98 % in half a minute.
CNN_TRAIN = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 30}
MNIST_TRAIN = {"optimizer": "adagrad", "learning_rate": 0.01, "batch_size": 100, "epochs": 5}  # the workshop's
QUICK = {"folds": 2, "regression_epochs": 20, "iris_epochs": 5, "cnn_epochs": 2, "mnist_rows": 600}


def run(out, *, data=None, target=None, quick: bool = False, seed: int = 0, progress=None) -> dict:
    """Run the three exercises and write `out/report.html`, `results.json` and the CSVs.

    Args:
        out: the report folder (must not exist yet, or be empty).
        data, target: not used: the workshop's exercises come with their data (an error if given).
        quick: 2 folds and a few epochs everywhere: a smoke run of the whole report.
        seed: root seed of every run.
        progress: callback(done_epochs, total_epochs, phase).
    """
    if data is not None or target is not None:
        raise DataError("--data/--target: the workshop study uses the workshop's own data sets; "
                        "run `denselab run SPEC` or `denselab study rocks --data FILE --target COLUMN` for yours")
    started = time.perf_counter()
    reg = exercise([(label, _spec(name, quick, "regression_epochs", ["evaluate.metric=mse"], seed))
                    for label, name in REGRESSION], seed, phase(progress, "regression"))
    iris = exercise([(label, _spec(name, quick, "iris_epochs", extra, seed)) for label, name, extra in IRIS],
                    seed, phase(progress, "iris"), predict=FLOWERS)
    cnn = _cnn(quick, seed, progress)
    found = _findings(reg, iris, cnn)
    frames = {"findings": fnd.frame(found), "findings_numbers": fnd.numbers(found),
              "regression": reg["table"], "regression_comparison": reg["comparison"],
              "iris": iris["table"], "iris_comparison": iris["comparison"], "iris_flowers": iris["flowers"],
              "diagnoses": pd.concat([reg["diagnoses"], iris["diagnoses"]], ignore_index=True),
              "cnn": pd.DataFrame(cnn["rows"]), "cnn_confusion": cnn["confusion"]}
    results = {"name": "workshop", "study": "workshop", "quick": quick, "expected_predictions": EXPECTED,
               "flowers": [list(f) for f in FLOWERS], "workshop": WORKSHOP, "quick_settings": QUICK,
               "own_split": {name: {"train": n, "test": int(len(ex["dataset"].y_test))} for name, n, ex in
                             (("regression", OWN_TRAIN_ROWS["workshop-regression"], reg),
                              ("iris", OWN_TRAIN_ROWS["workshop-iris"], iris))},
               "mnist": {"path": str(mnist_path()), "ran": cnn["mnist"]}, "rules": fnd.RULE_NUMBERS,
               "findings_counts": fnd.counts(frames["findings"]),
               "diagnosis_overfit_accuracy_gap": diagnosis.OVERFIT_ACCURACY_GAP,
               "specs": {"regression": reg["specs"], "iris": iris["specs"], "cnn": cnn["specs"]},
               "manifest": manifest(seed)}
    results["spec_yaml"] = "\n---\n".join(Experiment.from_dict(e).to_yaml() for part in results["specs"].values()
                                          for e in part.values())
    sections = workshop_report.sections(results, frames, reg, iris, cnn, quick)
    results["timing"] = {"wall_s": time.perf_counter() - started}
    results["tables"] = {name: f.to_dict(orient="records") for name, f in frames.items()}
    workshop_report.write(Path(out), sections, results, frames)
    return results


def _spec(name: str, quick: bool, epochs_key: str, extra: list, seed: int) -> Experiment:
    sized = [f"evaluate.folds={QUICK['folds']}", f"train.epochs={QUICK[epochs_key]}"] if quick else \
        ([f"train.epochs={IRIS_EPOCHS}"] if epochs_key == "iris_epochs" else [])
    return load(name, list(extra) + sized).replace(seed=seed)


def own_split(exp: Experiment) -> Dataset:
    """The workshop's own train/test files as the training and test rows (no re-split)."""
    frame, target = read_table(exp.data)  # the built-in lists the training file's rows first
    n = OWN_TRAIN_ROWS[exp.data.source]
    ds = from_frame(frame, target, dataclasses.replace(exp.data, test_size=0.0), exp.seed)
    return dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n], x_test=ds.x_train[n:],
                               y_test=ds.y_train[n:], train_frame=ds.train_frame.iloc[:n].reset_index(drop=True))


def exercise(specs: list, seed: int, progress, predict=None) -> dict:
    """Every net of one exercise as an arm of one plan on the workshop's split: CV, refit, test."""
    ds = own_split(specs[0][1])
    arms = [Arm(label, exp, {"net": label}) for label, exp in specs]
    plan = Plan.cv(specs[0][1], ds)
    cvs = plan.run(arms, progress=phase(progress, "cross-validation"))
    comp = comparison.table(plan, cvs, comparison.score_baselines(plan))
    refit = Plan.holdout(specs[0][1].replace(evaluate=dataclasses.replace(specs[0][1].evaluate, seeds=1)), ds)
    finals = refit.run(arms, progress=phase(progress, "refit on the training file"))
    metric = plan.metric
    gaps = gap_table(SimpleNamespace(results=cvs)).set_index("name")
    rows, diagnoses, flowers, models = [], [], [], {}
    for (label, exp), cv, final in zip(specs, cvs, finals):
        model = TrainedModel.from_weights(exp.model, final.head, ds, final.members[0].weights, final.preprocessors[0])
        models[label] = model
        curve = cv.head.metric
        train_last = [h[curve][-1] for h in cv.histories]
        text, measured = diagnosis.interval_verdict(curve, train_last, cv.values(curve),
                                                    diagnosis.baseline(ds, curve))
        row = comp.set_index("name").loc[label]
        rows.append({"net": label, "epochs": exp.train.epochs, "epochs_run": gaps.loc[label, "epochs_run"],
                     f"cv_{metric}_mean": row["mean"], f"cv_{metric}_ci_low": row["ci_low"],
                     f"cv_{metric}_ci_high": row["ci_high"], f"cv_{metric}_std": row["std"],
                     f"train_{curve}_last": float(np.mean(train_last)), "gap": measured.get("gap"),
                     "gap_ci_low": measured.get("gap_ci_low"), "gap_ci_high": measured.get("gap_ci_high"),
                     f"test_{metric}": float(final.scores[0]),
                     "collapsed": row["collapsed"], "diverged": row["diverged"], "diagnosis": measured["rule"]})
        if ds.task == "classification":  # the held-out cross-entropy without any penalty term
            rows[-1]["cv_cross_entropy"] = float(np.mean(cv.values("log_loss")))
        diagnoses.append({"net": label, "text": text, **measured})
        if predict:
            proba = model.predict_proba([list(p) for p in predict])
            flowers.append({"net": label, **{f"flower {i + 1}: class": int(ds.classes[int(np.argmax(p))])
                                             for i, p in enumerate(proba)},
                            **{f"flower {i + 1}: p(class {c})": float(p[k]) for i, p in enumerate(proba)
                               for k, c in enumerate(ds.classes)}})
    return {"dataset": ds, "plan": plan, "cv": dict(zip([a.name for a in arms], cvs)), "final": finals,
            "models": models, "metric": metric, "comparison": comp, "table": pd.DataFrame(rows),
            "diagnoses": pd.DataFrame(diagnoses), "flowers": pd.DataFrame(flowers),
            "specs": {label: exp.to_dict() for label, exp in specs}}


def _findings(reg: dict, iris: dict, cnn: dict) -> list:
    out = []
    given, fixed = (label for label, _ in REGRESSION)
    diag = reg["table"].set_index("net")["diagnosis"]
    out.append(_equals("The regression net as given underfits (exercise 1: \"identify the problem\")",
                       f"{given}: interval diagnosis", diag[given], "underfit"))
    pair = comparison.table(reg["plan"], [reg["cv"][fixed], reg["cv"][given]])
    verdict, evidence, got = fnd.higher(pair, fixed, given, greater=False, percent=False)
    out.append(fnd.Finding("More capacity fixes it (\"with good settings … a good fit\")",
                           f"CV MSE, {fixed} vs {given}", verdict, evidence, got))
    first = IRIS[0][0]
    diag = iris["table"].set_index("net")["diagnosis"]
    out.append(_equals("The 1000-500-70 iris net overfits (exercise 2)", f"{first}: interval diagnosis",
                       diag[first], "overfit"))
    for label, _, _ in IRIS[1:]:
        pair = comparison.table(iris["plan"], [iris["cv"][label], iris["cv"][first]])
        verdict, evidence, got = fnd.higher(pair, label, first)
        out.append(fnd.Finding(f"The remedy {label} gives a better network", f"CV accuracy, {label} vs {first}",
                               verdict, evidence, got))
    for row in iris["flowers"].to_dict(orient="records"):
        seen = [row["flower 1: class"], row["flower 2: class"]]
        probs = "; ".join(f"flower {i}: p = " + ", ".join(f"{row[f'flower {i}: p(class {c})']:.3f}"
                                                           for c in iris["dataset"].classes) for i in (1, 2))
        out.append(fnd.Finding("The two new flowers are classes 1 and 2", row["net"],
                               fnd.HOLDS if seen == EXPECTED else fnd.FAILS,
                               f"predicted {seen[0]} and {seen[1]} ({probs})",
                               {"rule": "equals", "observed": seen, "expected": EXPECTED}))
    mnist = [r for r in cnn["rows"] if r["data"].startswith("MNIST")]
    if mnist and not cnn["quick"]:
        acc = mnist[0]["test_accuracy"]
        out.append(fnd.Finding("The CNN reaches over 98 % test accuracy on MNIST", "MNIST test images",
                               fnd.HOLDS if acc > WORKSHOP["mnist_test_accuracy_above"] else fnd.FAILS,
                               f"test accuracy {acc:.4f} on {mnist[0]['test_rows']} images",
                               {"rule": "above", "value": acc, "threshold": WORKSHOP["mnist_test_accuracy_above"]}))
    else:
        d = cnn["rows"][0]
        why = "this run used a subset and 2 epochs (quick)" if mnist else f"`{mnist_path()}` is not there"
        out.append(fnd.Finding("The CNN reaches over 98 % test accuracy on MNIST", "MNIST", fnd.UNTESTABLE,
                               f"{why}; on the 8×8 digits instead: test accuracy {d['test_accuracy']:.4f}"))
    return out


def _equals(source: str, finding: str, observed, expected) -> fnd.Finding:
    return fnd.Finding(source, finding, fnd.HOLDS if observed == expected else fnd.FAILS,
                       f"the diagnosis rule gives `{observed}` (table `diagnoses`)",
                       {"rule": "equals", "observed": observed, "expected": expected})


def cnn_experiment(source: str, target: str, train: dict, quick: bool, input_shape) -> Experiment:
    train = dict(train, epochs=QUICK["cnn_epochs"]) if quick else dict(train)
    return Experiment.from_dict({
        "name": f"workshop-cnn-{source}", "data": {"source": source, "target": target, "scaling": "none"},
        "model": {"input_shape": list(input_shape), "hidden": CNN_LAYERS}, "train": train,
    })


def _cnn(quick, seed, progress) -> dict:
    """The CNN on MNIST when its file is there, else on digits; one refit, scored on the test images."""
    path = mnist_path()
    if path.exists():
        exp = cnn_experiment("mnist", "digit", MNIST_TRAIN, quick, (28, 28, 1)).replace(seed=seed)
        label, ds = "MNIST (28×28)", load_mnist(path, quick)
    else:
        exp = cnn_experiment("digits", "digit", CNN_TRAIN, quick, (8, 8, 1)).replace(seed=seed)
        label, ds = "digits (8×8)", load_dataset(exp.data, seed)
    t0 = time.perf_counter()
    h = holdout(exp, ds, progress=phase(progress, f"CNN {label}"))
    t = exp.train
    row = {"data": label, "test_accuracy": h.scores["accuracy"], "test_loss": h.scores["loss"], "epochs": t.epochs,
           "optimizer": t.optimizer, "learning_rate": t.learning_rate, "batch_size": t.batch_size,
           "train_rows": int(len(ds.y_train)), "test_rows": int(len(ds.y_test)), "engine": h.engine,
           "seconds": time.perf_counter() - t0}
    from denselab.report import tables
    from denselab.train.engine import predicted_codes

    y_true, y_pred = ds.decode(ds.y_test), ds.decode(predicted_codes(h.head, h.predictions))
    return {"rows": [row], "holdout": h, "y_true": y_true, "y_pred": y_pred, "classes": list(map(str, ds.classes)),
            "confusion": tables.confusion_table(y_true, y_pred, list(map(str, ds.classes))),
            "mnist": path.exists(), "quick": quick, "specs": {label: exp.to_dict()}}


def mnist_path() -> Path:
    """Where `keras.datasets.mnist.load_data()` keeps its download."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"


def load_mnist(path: Path, quick: bool) -> Dataset:
    """MNIST's official 60 000 / 10 000 split as a Dataset (pixels 0–255 → 0–1, BatchNorm does the rest)."""
    with np.load(path) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    if quick:
        x_train, y_train = x_train[:QUICK["mnist_rows"]], y_train[:QUICK["mnist_rows"]]
        x_test, y_test = x_test[:QUICK["mnist_rows"] // 4], y_test[:QUICK["mnist_rows"] // 4]
    names = [f"px{i}" for i in range(28 * 28)]
    return Dataset(x_train=(x_train.reshape(len(x_train), -1) / 255.0).astype(np.float32),
                   y_train=y_train.astype(np.int32),
                   x_test=(x_test.reshape(len(x_test), -1) / 255.0).astype(np.float32),
                   y_test=y_test.astype(np.int32), task="classification", target="digit",
                   feature_names=names, raw_features=names, classes=tuple(range(10)), scaling="none")
