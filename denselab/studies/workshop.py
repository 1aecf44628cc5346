"""Teichert's Keras workshop: an underfit regression, an overfit iris net, a CNN on digits.

Three exercises, each the workshop's network run through denselab and diagnosed:

1. Regression of a 2-input surface: the net as given (2 × 5 relu, Adagrad 0.1) and a
   fixed one (3 × 50 relu): CV and test MSE, the predicted surfaces in 3-D.
2. Iris with a 1000-500-70 relu net, then the workshop's remedies for overfitting:
   dropout 0.4, L2 0.01 on every kernel, early stopping (patience 10). Each variant
   predicts the workshop's two new flowers (it expects classes 1 and 2).
3. The workshop's MNIST CNN (BatchNorm → Conv 4@5×5 → MaxPool 2 → Conv 16@5×5 →
   MaxPool 2 → Flatten → Dense 100 → Dropout 0.4 → softmax) on the bundled 8×8
   `digits` ('same' padding keeps 8×8 → 4×4 → 2×2), and on MNIST when
   `~/.keras/datasets/mnist.npz` is already there (never downloaded).

The regression and iris parts are the bundled example specs (`workshop-*.yaml`),
loaded with `spec.load` and changed only by `--set`-style overrides; each goes
through `workflow.run` (CV, refit, test, predictions) without its own report.

Owns: the variant lists, the CNN spec and its training settings, the tables
`regression`, `iris`, `cnn`. Everything else comes from the shared modules.

Example:
    >>> from denselab.studies import workshop
    >>> results = workshop.run("runs/workshop-quick", quick=True)   # doctest: +SKIP
    >>> sorted(results["tables"])                                   # doctest: +SKIP
    ['cnn', 'cnn_confusion', 'iris', 'iris_by_variant', 'regression']
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from denselab.data.prepare import Dataset, load_dataset
from denselab.errors import DataError
from denselab.report import diagnosis, plots, tables
from denselab.report.html import Section, write_report
from denselab.spec import Experiment, load
from denselab.train.engine import predicted_codes
from denselab.train.evaluate import holdout
from denselab.progress import phase
from denselab.workflow import manifest, run as run_experiment

REGRESSION = (("as given (2×5 relu)", "workshop-regression-underfit"),
              ("fixed (3×50 relu)", "workshop-regression-fixed"))
L2 = 0.01  # the workshop's keras.regularizers.l2(0.01)
PATIENCE = 10  # the workshop's EarlyStopping(patience=10)
IRIS = (
    ("overfit (1000-500-70)", "workshop-iris-overfit", []),
    ("dropout 0.4", "workshop-iris-dropout", []),
    (f"L2 {L2}", "workshop-iris-overfit", [f"model.hidden[{i}].l2={L2}" for i in range(3)]),
    (f"early stopping (patience {PATIENCE})", "workshop-iris-overfit", [f"train.patience={PATIENCE}"]),
)
EXPECTED = [1, 2]  # "The code should predict classes 1 and 2, respectively, for the two new samples."
# What the workshop itself ran, quoted on the page next to ours (so results.json holds it too).
WORKSHOP = {"iris_epochs": 2000, "mnist_train_images": 60000, "mnist_test_accuracy_above": 0.98}

# The workshop's MNIST net on 8x8 digits. The workshop trains Adagrad(0.01), batch 100, 5 epochs
# on 60 000 images (3 000 steps); digits has 1 437 training images, so we use Adam 0.001,
# batch 32 and 30 epochs (~1 350 steps): ~97-98 % test accuracy in about half a minute on 2 cores.
CNN_LAYERS = [
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 4, "kernel_size": 5, "activation": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 16, "kernel_size": 5, "activation": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 100, "activation": "relu", "dropout": 0.4},
]
CNN_TRAIN = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 30}
MNIST_TRAIN = {"optimizer": "adagrad", "learning_rate": 0.01, "batch_size": 100, "epochs": 5}  # the workshop's
CNN_ENGINE = "auto"
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
    frames, sections, results = {}, [], {"name": "workshop", "study": "workshop", "quick": quick,
                                         "expected_predictions": EXPECTED, "workshop": WORKSHOP,
                                         "diagnosis_overfit_accuracy_gap": diagnosis.OVERFIT_ACCURACY_GAP}
    intro = ("The three exercises of Teichert's Introduction to Deep Neural Networks with Keras/TensorFlow, "
             "each with the workshop's network. Scores: k-fold cross-validation on the training rows, then the "
             "network refit on all training rows and scored once on the held-out test rows. The diagnosis "
             "compares the training score (last epoch, mean over the CV members), the CV score and the chance "
             "level (table `diagnoses`).")
    if quick:
        intro += (f" Quick mode: {QUICK['folds']} folds and a few epochs per network; the numbers only show that "
                  "the report works.")
    sections.append(Section("Workshop exercises", intro))

    reg_rows, reg_sections, reg_runs = _regression(quick, seed, progress)
    frames["regression"] = pd.DataFrame(reg_rows)
    sections += reg_sections
    iris_rows, iris_sections, iris_specs, iris_measures = _iris(quick, seed, progress)
    frames["iris"] = pd.DataFrame(iris_rows)
    # the same numbers with one column per variant: eleven measures side by side fit the page
    frames["iris_by_variant"] = (frames["iris"].set_index("variant").T.rename_axis(index="measure", columns=None)
                                 .reset_index())
    sections += iris_sections
    cnn_rows, cnn_sections, confusion, cnn_specs = _cnn(quick, seed, progress)
    frames["cnn"] = pd.DataFrame(cnn_rows)
    frames["cnn_confusion"] = confusion
    sections += cnn_sections
    frames["diagnoses"] = pd.DataFrame(
        [{"net": f"regression {label}", **_measures(reg_runs[name])} for label, name in REGRESSION]
        + [{"net": f"iris {label}", **m} for label, m in iris_measures])

    results["mnist"] = {"path": str(mnist_path()), "ran": len(cnn_rows) > 1}  # the page names the file
    results["specs"] = {"regression": {name: r.experiment.to_dict() for name, r in reg_runs.items()},
                        "iris": iris_specs, "cnn": cnn_specs}
    shown = (list(results["specs"]["regression"].values()) + [v["experiment"] for v in iris_specs.values()]
             + list(cnn_specs.values()))
    results["spec_yaml"] = "\n---\n".join(yaml.safe_dump(e, sort_keys=False) for e in shown)
    results["manifest"] = manifest(seed)
    results["timing"] = {"wall_s": time.perf_counter() - started}
    results["tables"] = {name: f.to_dict(orient="records") for name, f in frames.items()}
    write_report(Path(out), "denselab study · workshop: underfitting, overfitting, a CNN", sections, results, frames)
    return results


def _overrides(quick: bool, epochs_key: str) -> list:
    return [f"evaluate.folds={QUICK['folds']}", f"train.epochs={QUICK[epochs_key]}"] if quick else []


def _fit(exp_name, overrides, seed, progress, label):
    exp = load(exp_name, overrides).replace(seed=seed)
    wrapped = None if progress is None else (lambda d, t, phase: progress(d, t, f"{label}: {phase}"))
    return run_experiment(exp, report=False, progress=wrapped)


def _train_score(r) -> float:
    """The training metric of the last epoch, mean over the CV members (what the diagnosis reads)."""
    return float(np.nanmean([h[r.cv.metric][-1] for h in r.cv.histories]))


def _measures(r) -> dict:
    ds, cv = r.dataset, r.cv
    return diagnosis.measures(cv.metric, _train_score(r), cv.summary.mean, diagnosis.baseline(ds, cv.metric))


def _diagnosis(r) -> str:
    ds, cv = r.dataset, r.cv
    return diagnosis.diagnose(ds.task, cv.metric, _train_score(r), cv.summary.mean, diagnosis.baseline(ds, cv.metric))


def _regression(quick, seed, progress):
    rows, runs = [], {}
    for label, name in REGRESSION:
        # the workshop reports MSE: score the folds by it (the run's default for regression is RMSE)
        r = _fit(name, _overrides(quick, "regression_epochs") + ["evaluate.metric=mse"], seed, progress,
                 f"regression {label}")
        runs[name] = r
        ds = r.dataset
        rows.append({"model": label, "spec": name, "epochs": r.experiment.train.epochs,
                     "cv_mse_mean": r.cv.summary.mean, "cv_mse_std": r.cv.summary.std,
                     "test_mse": r.holdout.scores["mse"], "train_mse": _train_score(r),
                     "baseline_mse": diagnosis.baseline(ds, "mse"), "rows_train": int(len(ds.y_train)),
                     "seconds": r.results["timing"]["wall_s"]})
    given, fixed = rows
    for row in rows:  # relative to the fixed net: the page quotes the as-given net's ratios
        row["train_mse_over_fixed"] = row["train_mse"] / fixed["train_mse"] if fixed["train_mse"] > 0 else None
        row["test_mse_over_fixed"] = row["test_mse"] / fixed["test_mse"] if fixed["test_mse"] > 0 else None
    verdict = _diagnosis(runs[REGRESSION[0][1]])
    underfits = given["train_mse"] > 2 * fixed["train_mse"]
    if underfits:
        bias = (f"The as-given net's error is bias: its training error is "
                f"{_ratio(given['train_mse'], fixed['train_mse'])} the fixed net's, so it underfits, as the workshop "
                "says. ")
        bias += ("The rule of thumb below agrees." if "underfitting" in verdict else
                 "The rule of thumb below compares with chance only and does not call it underfitting; compared "
                 "with what the fixed net shows the data allow, it is.")
    else:
        bias = "The two nets fit the training rows about equally well in this run."
    text = (f"The workshop's regression (`{REGRESSION[0][1]}`): 2 inputs, {given['rows_train']} training rows, "
            "Adagrad 0.1, "
            f"batch 10, MSE loss. The baseline (predicting the mean) has MSE {given['baseline_mse']:.3g}. As given, "
            f"the net reaches training MSE {given['train_mse']:.3g} and test MSE {given['test_mse']:.3g}; with more "
            f"capacity (`{REGRESSION[1][1]}`) training MSE is {fixed['train_mse']:.3g} and test MSE "
            f"{fixed['test_mse']:.3g}, a ratio of {_ratio(given['test_mse'], fixed['test_mse'])}. {bias}")
    sections = [Section("1 · Regression: underfitting and its fix", text, tables=["regression"])]
    for label, name in REGRESSION:
        r = runs[name]
        ds = r.dataset
        x = ds.train_frame[ds.raw_features].to_numpy(dtype=float)
        y = ds.train_frame[ds.target].to_numpy(dtype=float)
        model = r.model
        sections.append(Section(
            f"Regression {label}",
            "Diagnosis: " + _diagnosis(r),
            figures=[plots.curves(r.cv.histories, r.cv.metric, val_label="held-out fold"),
                     plots.surface3d(lambda pts, m=model: np.asarray(m.predict(pts), dtype=float), x, y,
                                     list(map(str, ds.raw_features)), ds.target)],
        ))
    return rows, sections, runs


def _iris(quick, seed, progress):
    rows, sections, specs, measures = [], [], {}, []
    for label, name, extra in IRIS:
        r = _fit(name, list(extra) + _overrides(quick, "iris_epochs"), seed, progress, f"iris {label}")
        predicted = r.results["predictions"]["predicted"]
        epochs_run = [len(h["loss"]) for h in r.cv.histories]
        train = _train_score(r)
        specs[label] = {"spec": name, "overrides": list(extra), "experiment": r.experiment.to_dict()}
        measures.append((label, _measures(r)))
        val_loss_min = float(np.mean([np.nanmin(h["val_loss"]) for h in r.cv.histories]))
        val_loss_final = float(np.mean([h["val_loss"][-1] for h in r.cv.histories]))
        rows.append({"variant": label, "epochs": r.experiment.train.epochs, "epochs_run": float(np.mean(epochs_run)),
                     "train_accuracy": train, "cv_accuracy_mean": r.cv.summary.mean,
                     "cv_accuracy_std": r.cv.summary.std, "gap": train - r.cv.summary.mean,
                     "test_accuracy": r.holdout.scores["accuracy"],
                     "val_loss_min": val_loss_min, "val_loss_final": val_loss_final,
                     "val_loss_final_over_min": val_loss_final / val_loss_min if val_loss_min > 0 else None,
                     "prediction_1": predicted[0], "prediction_2": predicted[1],
                     "rows_train": int(len(r.dataset.y_train)), "rows_test": int(len(r.dataset.y_test)),
                     "seconds": r.results["timing"]["wall_s"]})
        row = rows[-1]
        val_label = "validation split" if r.experiment.train.effective_validation_split > 0 else "held-out fold"
        sections.append(Section(
            f"Iris {label}",
            f"Diagnosis: {_diagnosis(r)}\n\nThe {val_label} loss (mean over members) reaches "
            f"{row['val_loss_min']:.3g} at its lowest and ends at {row['val_loss_final']:.3g}. New flowers "
            f"[6.4, 3.2, 4.5, 1.5] and [5.8, 3.1, 5.0, 1.7] → "
            f"classes {row['prediction_1']} and {row['prediction_2']} (the workshop expects {EXPECTED[0]} and "
            f"{EXPECTED[1]}).",
            figures=[plots.curves(r.cv.histories, r.cv.metric, val_label=val_label)],
        ))
    frame = pd.DataFrame(rows)
    agree = [f"{row['variant']}: {row['prediction_1']}, {row['prediction_2']}" for row in rows]
    rises = ", ".join(f"{r['variant']} {r['val_loss_final_over_min']:.2g}×" for r in rows)
    text = (f"Iris as the workshop splits it ({rows[0]['rows_train']} training + {rows[0]['rows_test']} test rows), "
            f"a 1000-500-70 relu net with Adagrad 0.01, batch 10, {rows[0]['epochs']} epochs (the workshop ran "
            f"{WORKSHOP['iris_epochs']}), then its three remedies. Gap = training − CV accuracy; the overfit net's "
            f"is {100 * rows[0]['gap']:.1f} points, the remedies' "
            f"{', '.join(f'{100 * g:.1f} points' for g in frame['gap'][1:])} (the diagnosis calls a gap above "
            f"{100 * diagnosis.OVERFIT_ACCURACY_GAP:.0f} points overfitting). The held-out loss shows more than the "
            f"accuracy: its final value over its lowest is {rises}; a held-out loss that climbs back while the "
            "training loss keeps falling is the workshop's sign of overfitting (learning curves below). "
            f"Predictions for the two new flowers "
            f"(expected {EXPECTED[0]} and {EXPECTED[1]}): {'; '.join(agree)}. The second flower lies on the "
            "versicolor/virginica border (petal 5.0 × 1.7 cm), so a network may honestly call it either.")
    sections.insert(0, Section("2 · Iris: overfitting and three remedies", text, tables=["iris_by_variant"]))
    return rows, sections, specs, measures


def cnn_experiment(source: str, target: str, train: dict, quick: bool, input_shape) -> Experiment:
    train = dict(train, epochs=QUICK["cnn_epochs"]) if quick else dict(train)
    return Experiment.from_dict({
        "name": f"workshop-cnn-{source}", "data": {"source": source, "target": target, "scaling": "none"},
        "model": {"input_shape": list(input_shape), "hidden": CNN_LAYERS}, "train": train,
    })


def _cnn(quick, seed, progress):
    rows, sections = [], []
    exp = cnn_experiment("digits", "digit", CNN_TRAIN, quick, (8, 8, 1)).replace(seed=seed)
    specs = {"digits": exp.to_dict()}
    ds = load_dataset(exp.data, seed)
    row, h = _train_cnn("digits (8×8)", exp, ds, progress)
    rows.append(row)
    y_true = ds.decode(ds.y_test)
    y_pred = ds.decode(predicted_codes(h.head, h.predictions))
    confusion = tables.confusion_table(y_true, y_pred, list(map(str, ds.classes)))
    figures = [plots.curves([h.history], "accuracy", val_label="test rows"),
               plots.confusion(y_true, y_pred, list(map(str, ds.classes)))]
    mnist_file = mnist_path()
    if mnist_file.exists():
        mexp = cnn_experiment("mnist", "digit", MNIST_TRAIN, quick, (28, 28, 1)).replace(seed=seed)
        mrow, mh = _train_cnn("MNIST (28×28)", mexp, load_mnist(mnist_file, quick), progress)
        specs["mnist"] = mexp.to_dict()
        rows.append(mrow)
        figures.append(plots.curves([mh.history], "accuracy", val_label="test rows"))
        mnist_text = (f"MNIST from `{mnist_file}` with the workshop's own settings (Adagrad 0.01, batch 100, "
                      f"{mexp.train.epochs} epochs; the workshop reports over "
                      f"{100 * WORKSHOP['mnist_test_accuracy_above']:g} %): test accuracy "
                      f"{mrow['test_accuracy']:.4f}.")
    else:
        mnist_text = (f"MNIST was not run: `{mnist_file}` is not there, and this study never downloads. To add it, "
                      "run once on a machine with internet access `python -c \"import keras; "
                      "keras.datasets.mnist.load_data()\"` (it saves ~/.keras/datasets/mnist.npz), or copy "
                      "that file there, then run the study again.")
    d = rows[0]
    text = ("The workshop's MNIST network on the bundled 8×8 digits: BatchNorm → Conv2D 4@5×5 relu → "
            "MaxPool 2 → Conv2D 16@5×5 relu → MaxPool 2 → Flatten → Dense 100 relu → Dropout 0.4 → softmax 10, "
            f"with 'same' padding so the 8×8 image shrinks to 4×4 and 2×2. Trained on {d['train_rows']} images with "
            f"{d['optimizer']} {d['learning_rate']}, batch {d['batch_size']}, {d['epochs']} epochs (the workshop's "
            f"Adagrad/5 epochs is for {WORKSHOP['mnist_train_images']} images), it scores test accuracy "
            f"{d['test_accuracy']:.4f} on "
            f"{d['test_rows']} held-out images in {d['seconds']:.0f} s. One network, no cross-validation: the "
            f"learning curve's validation line is the test rows, as in the workshop's `validation_data`. Engine: "
            f"{d['engine']}.\n\n{mnist_text}")
    sections.append(Section("3 · A convolutional network on digits", text, figures=figures, tables=["cnn"]))
    return rows, sections, confusion, specs


def _train_cnn(label, exp, ds, progress):
    t0 = time.perf_counter()
    h = holdout(exp, ds, engine=CNN_ENGINE, progress=phase(progress, f"CNN {label}"))
    t = exp.train
    row = {"data": label, "test_accuracy": h.scores["accuracy"], "test_loss": h.scores["loss"], "epochs": t.epochs,
           "optimizer": t.optimizer, "learning_rate": t.learning_rate, "batch_size": t.batch_size,
           "train_rows": int(len(ds.y_train)), "test_rows": int(len(ds.y_test)), "engine": h.engine,
           "seconds": time.perf_counter() - t0}
    return row, h


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


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3g}×" if b > 0 else "infinitely"
