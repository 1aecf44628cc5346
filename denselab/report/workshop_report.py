"""The workshop study's page: findings, then the three exercises with their figures.

Composition only: numbers come from `studies/workshop.py` (comparison tables from
`denselab.comparison`, diagnoses from `report.diagnosis.interval_verdict`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from denselab.report import plots
from denselab.report.analysis_report import chart
from denselab.report.html import Section, write_report
from denselab.studies import findings as fnd

TITLE = "denselab study · workshop: underfitting, overfitting, a CNN"


def sections(results, frames, reg, iris, cnn, quick) -> list:
    q = results["quick_settings"]
    note = (f"Quick mode: {q['folds']} folds and a few epochs per network (iris {q['iris_epochs']} instead of "
            f"{results['workshop']['iris_epochs']}): the verdicts only show that the rules run." if quick else "")
    split = results["own_split"]
    intro = ("The three exercises of Teichert's Introduction to Deep Neural Networks with Keras/TensorFlow, each "
             "with the workshop's network, on the workshop's own files and split: regression "
             f"{split['regression']['train']} training + {split['regression']['test']} test rows "
             f"(dataRegression_train/test.csv), iris {split['iris']['train']} + {split['iris']['test']} "
             "(iris_training/test.csv). Scores: k-fold cross-validation on the training file (every net of an "
             "exercise on the same folds and seeds, so they are paired), then each net refit on the whole training "
             "file and scored once on the test file. Each net's diagnosis applies the interval rules of "
             "`report.diagnosis` to its members' last-epoch training score and held-out score (table `diagnoses`).")
    return [fnd.section(frames["findings"], note), Section("Workshop exercises", intro),
            _regression(frames, reg), _iris(results, frames, iris), _cnn(results, frames, cnn)]


def _story(table, claimed: str) -> str:
    """The workshop's story about its first net next to what the diagnosis rule says here."""
    first = table.iloc[0]
    if first["diagnosis"] == claimed:
        return f"The workshop says its net {claimed}s; the diagnosis rule agrees for `{first['net']}`. "
    return (f"The workshop says its net {claimed}s; on these data the diagnosis rule does not say so for "
            f"`{first['net']}` (it gives `{first['diagnosis']}`): the workshop's story does not hold here. ")


def _diagnoses(table) -> str:
    return "\n\n".join(f"Diagnosis of {r['net']}: {r['text']}" for _, r in table.iterrows())


def _regression(frames, reg) -> Section:
    ds, t = reg["dataset"], reg["table"]
    x = ds.train_frame[ds.raw_features].to_numpy(dtype=float)
    figures = []
    for label, model in reg["models"].items():
        figures.append(plots.curves(reg["cv"][label].histories, "mse", val_label="held-out fold", log=True,
                                    title=f"regression {label}"))
        figures.append(plots.surface3d(lambda pts, m=model: np.asarray(m.predict(pts), dtype=float), x, ds.y_train,
                                       list(map(str, ds.raw_features)), ds.target, ds.x_test, ds.y_test,
                                       title=f"{label}: predicted {ds.target} (surface), training (red), test (blue)"))
    parts = "; ".join(f"{r['net']}: CV MSE {r['cv_mse_mean']:.3g} [{r['cv_mse_ci_low']:.3g}, {r['cv_mse_ci_high']:.3g}]"
                      f", test MSE {r['test_mse']:.3g}, diagnosis `{r['diagnosis']}`" for _, r in t.iterrows())
    text = _story(t, "underfit") + (f"The workshop's regression: 2 inputs, Adagrad 0.1, batch 10, MSE loss, {int(t['epochs'].iloc[0])} "
            f"epochs. {parts}. Table `regression_comparison` holds both nets and the scikit-learn baselines on the "
            "same folds. Learning curves on a log axis (the MSE falls by decades).\n\n" + _diagnoses(reg["diagnoses"]))
    return Section("1 · Regression: the underfitting exercise", text, figures=figures,
                   tables=["regression", "regression_comparison"])


def _iris(results, frames, iris) -> Section:
    t = iris["table"]
    figures = [chart(iris["comparison"], "iris: CV accuracy per net (mean, 95 % CI)")]
    figures += [plots.curves(iris["cv"][label].histories, "accuracy", title=f"iris {label}",
                             val_label="validation split" if iris["cv"][label].experiment.train
                             .effective_validation_split > 0 else "held-out fold") for label in iris["cv"]]
    gaps = ", ".join(f"{r['net']} {100 * r['gap']:.1f} points [{100 * r['gap_ci_low']:.1f}, "
                     f"{100 * r['gap_ci_high']:.1f}]" for _, r in t.iterrows() if r["gap"] is not None)
    text = _story(t, "overfit") + (f"The workshop's 1000-500-70 relu net (Adagrad 0.01, batch 10, {int(t['epochs'].iloc[0])} epochs; the "
            f"workshop ran {results['workshop']['iris_epochs']}) and each remedy the workshop names, as arms of one "
            f"plan. Train − validation gap (last epoch's training accuracy minus the held-out accuracy, mean and "
            f"95 % interval over the members): {gaps}. The column `cv_cross_entropy` is the held-out "
            "cross-entropy computed from the predictions, without the L1/L2 penalty that Keras adds to the training "
            "loss, so the arms compare on the same quantity. Early stopping carves its validation rows from each "
            "fold's training rows; its curves' validation line is that split. Table `iris_flowers`: the two new "
            "flowers [6.4, 3.2, 4.5, 1.5] and [5.8, 3.1, 5.0, 1.7], predicted by each net refit on the training file, "
            "with the probability of every class; the second lies on the versicolor/virginica border (petal 5.0 × "
            "1.7 cm), so a network may honestly call it either.\n\n" + _diagnoses(iris["diagnoses"]))
    return Section("2 · Iris: the overfitting exercise and the remedies", text, figures=figures,
                   tables=["iris", "iris_flowers", "iris_comparison"])


def _cnn(results, frames, cnn) -> Section:
    d = cnn["rows"][0]
    if results["mnist"]["ran"]:
        where = (f"MNIST from `{results['mnist']['path']}` with the workshop's own settings")
    else:
        where = (f"the bundled 8×8 digits, because `{results['mnist']['path']}` is not there and this study never "
                 "downloads (run `python -c \"import keras; keras.datasets.mnist.load_data()\"` once on a machine "
                 "with internet access, or copy that file there; 'same' padding keeps 8×8 → 4×4 → 2×2)")
    text = ("The workshop's MNIST network: BatchNorm → Conv2D 4@5×5 relu → MaxPool 2 → Conv2D 16@5×5 relu → "
            f"MaxPool 2 → Flatten → Dense 100 relu → Dropout 0.4 → softmax 10, on {where}. Trained on "
            f"{d['train_rows']} images with {d['optimizer']} {d['learning_rate']}, batch {d['batch_size']}, "
            f"{d['epochs']} epochs: test accuracy {d['test_accuracy']:.4f} on {d['test_rows']} held-out images in "
            f"{d['seconds']:.0f} s. One network, no cross-validation: the learning curve's validation line is the "
            f"test rows, as in the workshop's `validation_data`. Engine: {d['engine']}.")
    figures = [plots.curves([cnn["holdout"].history], "accuracy", val_label="test rows", title=d["data"]),
               plots.confusion(cnn["y_true"], cnn["y_pred"], cnn["classes"])]
    return Section(f"3 · A convolutional network on {d['data']}", text, figures=figures, tables=["cnn"])


def write(out: Path, sections: list, results: dict, frames: dict) -> Path:
    return write_report(out, TITLE, sections, results, frames)
