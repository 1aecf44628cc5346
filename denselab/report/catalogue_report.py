"""The catalogue study's page: findings, derivatives, the activation, loss, optimizer and topology tables.

Composition only: the numbers come from `studies/catalogue.py` (tables built by
`denselab.comparison`). Its own figures:

- `derivative_figure`: every activation f and its derivative f' (`catalogue_derivatives`);
- `heatmap`: one value per (row, column) of a comparison table; for a `mean` it prints the
  sample std and states n, and frames cells with collapsed or diverged members in red;
- `curves_by`: per-epoch curves, one panel per data set (or optimizer), one line per arm;
- `topology_curves`: the topologies' test-row curves per epoch (`mean_curve`: over seeds);
- `linear_maps`: the lecture's "linear activations give linear decisions no matter the
  network size" as decision maps, identity beside relu on the same rows (fold 0's nets).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from denselab.models.build import build_model
from denselab.report import plots
from denselab.report.html import Section, write_report
from denselab.studies import findings as fnd
from denselab.studies.catalogue_derivatives import DERIVATIVE_X, LECTURE_ACTIVATIONS, PRELU_ALPHA

TITLE = "denselab study · catalogue: activations, losses, optimizers, topologies"


def derivative_figure(curves: dict) -> Figure:
    """f (solid) and f' (dashed) per activation; binary_step's true derivative and its surrogate."""
    names, cols = list(curves), 5
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(15, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names):
        x, y, dy = curves[name]
        ax.plot(x, y, color="tab:blue", lw=2, label="f(x)")
        if name == "binary_step":
            ax.plot(x, np.zeros_like(x), color="tab:orange", lw=2, ls="--", label="f'(x) = 0 (true)")
            ax.plot(x, dy, color="tab:gray", lw=1.5, ls=":", label="STE surrogate (trained)")
        else:
            ax.plot(x, dy, color="tab:orange", lw=2, ls="--", label="f'(x) (jax.grad)")
        title = f"{name} (α = {PRELU_ALPHA})" if name == "prelu" else name
        ax.set_title(title + ("" if name in LECTURE_ACTIVATIONS else " · Keras"), fontsize=11)
        ax.axhline(0, color="black", lw=0.5)
        ax.axvline(0, color="black", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    lo, hi = DERIVATIVE_X
    fig.suptitle(f"Activation functions f (solid) and their derivatives f' (dashed), x ∈ [{lo:g}, {hi:g}]")
    return fig


def heatmap(table: pd.DataFrame, row: str, col: str, value: str, title: str, rows: list, cols: list | None = None,
            fmt="{:.3f}", cmap="viridis", label=str) -> Figure:
    """`value` per (row, col) of a comparison table's networks, in the order of `rows` and `cols` (default:
    the columns as they first appear in the table).

    For `mean`: each cell also shows the sample std (the `std` column) and the title n (the
    `n` column: folds × seeds), so a difference can be read against its spread; a cell whose
    members collapsed or diverged (comparison's health columns) is framed red and says how many.
    """
    nets = table[table["kind"] == "network"] if "kind" in table else table
    order = dict(index=[r for r in rows if r in set(nets[row])],
                 columns=[c for c in cols if c in set(nets[col])] if cols else list(dict.fromkeys(nets[col])))

    def grid(column):
        return nets.pivot(index=row, columns=col, values=column).reindex(**order).to_numpy(float)

    values = grid(value)
    spread = value == "mean" and "std" in nets
    std, n = (grid("std"), grid("n")) if spread else (None, None)
    bad = {k: grid(k) for k in ("collapsed", "diverged") if spread and k in nets}
    if spread:
        ns = sorted({int(v) for v in n[np.isfinite(n)]})
        title += f" ± sample std, n = {ns[0] if len(ns) == 1 else f'{ns[0]}–{ns[-1]}'} folds × seeds"
    fig = Figure(figsize=(1.6 + 1.35 * values.shape[1], 1.0 + (0.55 if spread else 0.36) * values.shape[0]),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, aspect="auto", cmap=cmap)
    ax.set_xticks(range(values.shape[1]), [label(c) for c in order["columns"]])
    ax.set_yticks(range(values.shape[0]), [label(r) for r in order["index"]])
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = "—" if not np.isfinite(v) else fmt.format(v)
            if spread and np.isfinite(std[i, j]):
                text += f"\n± {fmt.format(std[i, j])}"
            flags = [f"{int(b[i, j])}/{int(n[i, j])} {k}" for k, b in bad.items() if b[i, j] > 0]
            if flags:
                text += "\n" + ", ".join(flags)
                ax.add_patch(Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, edgecolor="red", lw=2))
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5 if flags else 8,
                    color="white" if np.isfinite(v) and v < middle else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=10)
    return fig


def curves_by(curves: list, panel: str, line: str, key: str, title: str, ylabel: str, log=False) -> Figure:
    """One panel per value of `panel`, one line per value of `line`, `key`'s curve per epoch."""
    panels = list(dict.fromkeys(c[panel] for c in curves))
    cols = min(len(panels), 3 if len(panels) > 4 else 2)
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5 * cols, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    lines = list(dict.fromkeys(c[line] for c in curves))
    cmap = colormaps["tab20" if len(lines) > 10 else "tab10"]
    for ax, p in zip(axes, panels):
        for c in (x for x in curves if x[panel] == p):
            values = np.asarray(c[key], dtype=float)
            if values.size:
                ax.plot(np.arange(1, len(values) + 1), values, color=cmap(lines.index(c[line]) % cmap.N), lw=1.5,
                        label=str(c[line]))
        ax.set(title=f"{panel} {p}", xlabel="epoch", ylabel=ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", fontsize=8, title=line)
    fig.suptitle(title)
    return fig


def mean_curve(histories: list, key: str) -> list:
    """`key`'s curve per epoch averaged over members' histories (NaN epochs left out), [] if none has it."""
    rows = [np.asarray(h[key], dtype=float) for h in histories if h.get(key)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(rows), axis=0).tolist() if rows else []


def topology_curves(curves: dict) -> Figure:
    """`{(data, net): curve}`: digits' test accuracy and sunspots' test MSE per epoch."""
    fig = Figure(figsize=(12, 4), layout="constrained")
    ax_d, ax_s = fig.subplots(1, 2)
    for (data, model), curve in curves.items():
        (ax_s if data == "sunspots" else ax_d).plot(np.arange(1, len(curve) + 1), curve, label=model)
    ax_d.set(title="digits: test accuracy per epoch (mean over seeds)", xlabel="epoch", ylabel="accuracy")
    ax_s.set(title="sunspots: test MSE per epoch (standardised target, mean over seeds)", xlabel="epoch",
             ylabel="MSE", yscale="log")
    for ax in (ax_d, ax_s):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _predictor(r, n_features: int):
    model = build_model(r.experiment.model, r.head, n_features)
    model.set_weights(r.members[0].weights)
    pre, binary = r.preprocessors[0], r.head.binary

    def predict(points):
        out = np.asarray(model.predict(pre.transform(points).astype(np.float32), verbose=0, batch_size=8192))
        return np.concatenate([1 - out, out], axis=1) if binary and out.shape[1] == 1 else out
    return predict


def linear_maps(nets: dict) -> list:
    """One decision map per `{(2-D data set, activation): (ArmResult, Dataset)}`: fold 0's net."""
    figures = []
    for (label, activation), (r, ds) in sorted(nets.items()):
        fig = plots.decision_boundary(_predictor(r, ds.x_train.shape[1]), ds.x_train, ds.y_train, list(ds.classes),
                                      ds.feature_names)
        fig.axes[0].set_title(f"{label}: Dense 20 → 20 {activation}, fold 0 (held-out accuracy {r.scores[0]:.3f})")
        figures.append(fig)
    return figures


def _best(table: pd.DataFrame, by: str, name: str) -> str:
    parts = [f"{d}: {part.iloc[0][name]} {100 * part.iloc[0]['mean']:.1f}%"  # comparison tables: best first
             for d, part in table[table["kind"] == "network"].groupby(by, sort=False)]
    return "Best per data set — " + "; ".join(parts) + "."


def _health(table: pd.DataFrame, where: str = "") -> str:
    """Which arms had members that diverged or collapsed, and how many of their n."""
    bad = table[(table["collapsed"] > 0) | (table["diverged"] > 0)]
    if bad.empty:
        return " No member diverged or collapsed."
    return " Arms with members that diverged or collapsed (framed red in the heat map): " + "; ".join(
        f"{r[where] + ' ' if where else ''}{r['name']}: " + ", ".join(
            f"{int(r[k])} of {int(r['n'])} {k}" for k in ("diverged", "collapsed") if r[k] > 0)
        for _, r in bad.iterrows()) + "."


def sections(results: dict, frames: dict, curves: dict, nets: dict) -> list:
    """The page: findings, derivatives, activations (maps, baselines), losses, optimizers, topologies,
    the Keras workflow, run time. `curves`: per part, what `curves_by`/`topology_curves`/
    `derivative_figure` draw; `nets`: `linear_maps`' nets."""
    s, quick = results["settings"], results["quick"]
    t = s["topology"]
    quick_note = (" Quick mode: a few names, tiny sizes, 2-3 epochs: the numbers only show that the page works."
                  if quick else "")
    iris = (f" (iris: {s['iris_epochs']}, its folds have {s['iris_fold_rows']} training rows = "
            f"{s['iris_steps_per_epoch']} steps per epoch)" if "iris_fold_rows" in s else "")
    iris_rows = (f", iris {s['iris_rows_train']} training rows ({s['iris_rows_test']} test rows unused)"
                 if "iris_rows_train" in s else "")
    cv_text = (f"Net: {s['hidden']} (hidden activation as stated), output from the task (sigmoid for the binary "
               f"2-D sets, softmax for iris, or what the loss wants). {s['folds']}-fold stratified CV, "
               f"{s['epochs']} epochs{iris}, batch {s['batch_size']}, Adam {s['learning_rate']:g}; f1/f2/f3 with "
               f"N = {s['n']} generated points{iris_rows}. Every arm of a data set trains on the same folds and "
               "member seeds; mean ± sample std (ddof 1) over folds, 95 % t-interval, and each arm tested "
               "against the data set's best (`denselab.comparison`; p_holm, tied_with_best). f2 (sign-flipped "
               "cosine rings) is beyond this small budget for every choice: its scores stay near chance here "
               f"(the synthetic2d study's initializer table trains it to convergence).{quick_note}")
    act, loss, opt, topo = (frames[k] for k in ("activations", "losses", "optimizers", "topologies"))
    dd, sd = ({k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in
               frames["topology_data"].set_index("data").loc[k].to_dict().items()} for k in ("digits", "sunspots"))
    cv_title = "CV accuracy (mean over folds)"
    best_topo = " ".join(f"{r['data']}: best {r['name']} {fnd.interval(r, percent=r['data'] == 'digits')} "
                         f"({r['metric']})." for _, r in topo[topo["kind"] == "network"].drop_duplicates("data")
                         .iterrows())
    return [
        fnd.section(frames["findings"], "Quick mode: tiny sizes and 3 epochs: the verdicts only show that the rules "
                    "run." if quick else ""),
        Section("Activation functions and their derivatives",
                "Every activation of the registry, drawn from the function the networks use; the derivative is "
                "`jax.vmap(jax.grad(f))`. Table `derivatives` compares it with the lecture's derivative column "
                f"(x ∈ [{s['derivative_x_range'][0]:g}, {s['derivative_x_range'][1]:g}], x = 0 excluded). "
                "binary_step: the true derivative is 0 (undefined at 0), so no gradient would pass it; "
                "denselab trains it with a straight-through estimator (forward: the step; backward: the "
                "identity's gradient 1), drawn dotted. prelu: a learned slope per unit, "
                f"drawn with α = {s['prelu_plot_alpha']}. The last five are Keras's own, not in the lecture's table.",
                figures=[derivative_figure(curves["derivatives"])], tables=["derivatives"]),
        Section("Activations × data sets", cv_text + " " + _best(act, "dataset", "activation")
                + _health(act, "dataset"),
                figures=[heatmap(act, "activation", "dataset", "mean", cv_title, s["activations"]),
                         curves_by(curves["activations"], "dataset", "activation", "val_accuracy",
                                   "Held-out-fold accuracy per epoch (mean over folds)", "accuracy")]
                + linear_maps(nets), tables=["activations"]),
        Section("The best activation against plain baselines",
                "Per data set, the net with the best mean activation beside scikit-learn baselines (majority "
                "class, logistic regression, random forest, gradient boosting) fitted on the same folds with the "
                "same scaling, tested as every comparison table is (`denselab.comparison`). "
                + " ".join(f"{d}: {v}" for d, v in results["verdicts"].items()),
                tables=["activations_vs_baselines"]),
        Section("Losses × data sets",
                f"The lecture's loss table ({s['loss_reference']}), hidden relu, same CV. Losses on logits (l1, "
                "l2, hinge family) get a linear output layer, the others a softmax; on the binary sets each gets "
                "two one-hot output units; `log` is categorical cross-entropy. seconds_per_epoch is that call's "
                f"fleet run time / its epochs ({s['folds']} networks, compile excluded). "
                + _best(loss, "dataset", "loss") + _health(loss, "dataset"),
                figures=[heatmap(loss, "loss", "dataset", "mean", cv_title, s["losses"]),
                         heatmap(loss, "loss", "dataset", "seconds_per_epoch",
                                 f"Seconds per epoch (fleet of {s['folds']})", s["losses"], fmt="{:.4f}",
                                 cmap="magma"),
                         curves_by(curves["losses"], "dataset", "loss", "val_accuracy",
                                   "Held-out-fold accuracy per epoch (mean over folds)", "accuracy")],
                tables=["losses"]),
        Section("Optimizers × learning rates",
                f"Data {s['optimizer_data']} (N = {s['n']}), Dense 20 → Dense 20 relu, binary cross-entropy, "
                f"{s['folds']}-fold CV, {s['epochs']} epochs. Each optimizer is one fleet call whose members are "
                f"folds × learning rates {s['learning_rates']}. final_loss: held-out-fold loss at the end (mean over "
                "folds; diverged members are counted and left out); seconds: the whole fleet call of that "
                "optimizer (every learning rate and fold, compile included). diverged: members whose loss or "
                "score was not finite; collapsed: members that trained without diverging but learned nothing "
                "(training loss not falling, or held-out accuracy at or below predicting the training rows' "
                "class shares, i.e. the majority class: `chance`). Curves: training loss per epoch." + _health(opt),
                figures=[heatmap(opt, "optimizer", "learning_rate", "mean", cv_title, s["optimizers"],
                                 s["learning_rates"], label=lambda v: f"{v:g}" if isinstance(v, float) else str(v)),
                         curves_by(curves["optimizers"], "optimizer", "learning_rate", "loss",
                                   "Training loss per epoch (mean over folds), per learning rate", "loss", log=True)],
                tables=["optimizers"]),
        Section("Topologies: dense, convolutional, recurrent",
                f"Each net trains with {t['n_seeds']} seeds (initial weights, shuffles, dropout) on one "
                "holdout split and is scored on its test rows: mean, sample std, n and the 95 % t-interval are "
                "over the seeds, so they measure the seeds' spread on this split, not the split's own luck; with "
                "one split there is no paired test (the p columns are empty, tied_with_best marks the best row "
                f"only). digits (scikit-learn's {dd['rows']} 8×8 images): {100 * dd['test_fraction']:g} % "
                f"stratified test rows; Adam {s['learning_rate']:g}, batch {s['batch_size']}, {t['digits_epochs']} "
                "epochs, beside scikit-learn baselines fitted on the same training rows. The MLP reads 64 pixels; "
                "the CNN the 8×8×1 image (conv 32@3×3 → maxpool 2 → conv 64@3×3 → flatten → dense 64 → dropout "
                f"0.3 → softmax, 'same' padding); the recurrent nets ({t['rnn_units']} units) read the image row "
                f"by row: 8 steps of 8 pixels. sunspots (yearly, {sd['first_year']}–{sd['last_year']}, "
                f"statsmodels' bundled NOAA copy): the previous {sd['lags']} years ({sd['lags']} steps × 1 value) "
                f"→ next year; trained on {sd['first_train_year']}–{sd['last_train_year']}, tested on the last "
                f"{t['test_years']} years, {sd['first_test_year']}–{sd['last_year']} (no shuffling across "
                "time); target standardised on the training years, mse and rmse in sunspot numbers; Adam "
                f"{t['sunspot_learning_rate']}, {t['sunspot_epochs']} epochs; persistence = last year's value. "
                "seconds: the training call of that net, compile included. The curves are the test rows after "
                "each epoch, shown only to see over-fitting: they choose nothing (the last epoch's weights are "
                f"scored). {best_topo}",
                figures=[topology_curves(curves["topologies"])], tables=["topologies", "topology_data"]),
        Section("The Keras workflow on one net",
                "The lecture's cheat sheet, call by call, on the real `keras.Model` of one Dense 20 → Dense 20 relu "
                "net trained on iris (refit on its training rows, scored on its test rows; numbers in "
                "results.json `keras_workflow`). Saving writes the net with its scaling as a first layer; loading "
                "it back gives the same probabilities. The Embedding + LSTM text classifier of the cheat sheet is "
                "built and called on random token ids only: this study has no text to train it on.",
                tables=["keras_workflow"]),
        Section("Run time", "Seconds per part of this run on this machine (compiles included); wall = the whole "
                "study, cpu = the process's CPU seconds over all threads (the machine may have been shared).",
                tables=["timing"]),
    ]


def write(out: Path, sections: list, results: dict, frames: dict) -> Path:
    return write_report(out, TITLE, sections, results, frames)
