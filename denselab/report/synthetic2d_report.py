"""The synthetic2d study's page: findings, learning curves, N, noise, initializers, the grid.

Composition and figures only: the numbers come from `studies/synthetic2d.py` and
`studies/s2d_grid.py` (comparison tables from `denselab.comparison`). Its own figures: the
labelled data (the source's Fig. 1), accuracy and loss against N (its Fig. 3) and the
decision maps. A map shows one fold net of the configuration the page's `grid_best` table
prints for its function (`boundary_net`: the fold whose accuracy is closest to that
configuration's CV mean, so a typical fold, not the luckiest one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from denselab.report import plots
from denselab.report.html import Section, write_report
from denselab.studies import findings as fnd

TITLE = "denselab study · synthetic2d: dense nets on 2-D binary problems"
NAMES = {"f1": "f1 (triangle)", "f2": "f2 (sinusoidal clusters)", "f3": "f3 (gaussian bump)",
         "lcpb-2d": "lcpb-2d (course file, f1 labels)"}
STRUCTURE = ("optimizer", "activation", "output_activation", "depth")


def named(function: str) -> str:
    return NAMES.get(function, function)


def labelled_data(datasets: list) -> Figure:
    """One scatter per labelling function: its points coloured by label (the source's Fig. 1)."""
    fig = Figure(figsize=(3.4 * len(datasets), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(datasets)))
    for ax, (label, ds) in zip(axes, datasets):
        x, y = np.asarray(ds.x_train, dtype=float), np.asarray(ds.y_train)
        for code, color in ((0, "tab:blue"), (1, "tab:orange")):
            ax.scatter(x[y == code, 0], x[y == code, 1], s=3, color=color, label=f"label {ds.classes[code]}")
        ax.set(title=f"{named(label)}, {len(y)} points", xlabel=ds.feature_names[0], ylabel=ds.feature_names[1],
               aspect="equal")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7, markerscale=3, loc="lower left")
    fig.suptitle("The labelled data, one panel per function")
    return fig


def versus_n(table: pd.DataFrame) -> Figure:
    """CV accuracy and loss against N per function; the log axis is ticked at the N run, in plain numbers."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for f, part in table.groupby("function", sort=False):
        for ax, col in zip(axes, ("accuracy", "loss")):
            ax.errorbar(part["n"], part[f"{col}_mean"], yerr=part[f"{col}_std"].fillna(0), marker="o",
                        capsize=3, label=named(f))
    sizes = sorted(table["n"].unique())
    for ax, col in zip(axes, ("accuracy", "loss")):
        ax.set(xscale="log", xlabel="number of samples N (log scale)", ylabel=f"CV {col} (mean ± std over folds)",
               title=f"CV {col} vs N, per function")
        ax.set_xticks(sizes, [str(int(n)) for n in sizes])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        ax.legend(title="function", fontsize=8)
    return fig


def boundary_net(r, function: str) -> dict:
    """The map net of one grid point's `ArmResult`: its fold net closest to the point's CV mean, with the
    spec, head and preprocessing to predict, and its row of table `grid_boundary_nets`."""
    i = int(np.argmin(np.abs(r.scores - r.scores.mean())))
    row = {"function": function, **r.params, "fold": int(r.fold[i]), "fold_accuracy": float(r.scores[i]),
           "cv_accuracy_mean": float(r.scores.mean())}
    return {"score": row["fold_accuracy"], "weights": r.members[i].weights, "model": r.experiment.model,
            "head": r.head, "preprocessor": r.preprocessors[i], "row": row}


def engine_calls(function: str, plan, arms: list, results: list) -> pd.DataFrame:
    """One row per engine call of a function's grid (`Plan.groups`): its points' structure, members, seconds."""
    by = {r.name: r for r in results}
    rows = []
    for group in plan.groups(arms):
        first = by[group[0].name]
        shared = {}
        for key in STRUCTURE:
            values = list(dict.fromkeys(a.params[key] for a in group))
            shared[key] = values[0] if len(values) == 1 else ", ".join(map(str, values))
        rows.append({"function": function, **shared, "points": len(group),
                     "members": sum(len(by[a.name].scores) for a in group),
                     "seconds": first.compile_s + first.run_s, "compile_s": first.compile_s, "run_s": first.run_s})
    return pd.DataFrame(rows)


def decision_map(entry: dict, ds, label: str) -> Figure:
    """The map net's P(class 1) over the plane, the function's rows on top, the net named in the title."""
    from denselab.models.build import build_model

    model = build_model(entry["model"], entry["head"], 2)
    model.set_weights(entry["weights"])
    pre = entry["preprocessor"]

    def predict(points):
        return np.clip(model.predict(pre.transform(points).astype(np.float32), verbose=0, batch_size=8192), 0, 1)

    fig = plots.decision_boundary(predict, ds.x_train, ds.y_train, list(ds.classes), ds.feature_names)
    row = entry["row"]
    point = f"{row['optimizer']}/{row['activation']}/{row['output_activation']}/depth {row['depth']}/dropout " \
            f"{row['dropout']:g}"
    fig.axes[0].set_title(f"{named(label)}: grid_best {point}\nfold {row['fold']} net: fold accuracy "
                          f"{row['fold_accuracy']:.3f} (CV mean {row['cv_accuracy_mean']:.3f})", fontsize=10)
    return fig


def sections(results, frames, hist, best, datasets, quick) -> list:
    s = results["settings"]
    quick_note = " Quick mode: small N, few epochs, a tiny grid: the numbers only show that the page works." \
        if quick else ""
    lo, hi = (f"{v:g}" for v in s["domain"])
    intro = (f"Uniform points in [{lo}, {hi}]², labelled by f1 (triangle), f2 (sinusoidal clusters), f3 (gaussian "
             f"bump) and the lcpb-2d course file (its f1 labels). Base net: Dense {s['units']} → Dropout "
             f"{s['base_dropout']} → Dense {s['units']} → 1 sigmoid, Adam, batch {s['batch_size']}, binary "
             f"cross-entropy, {s['epochs']} epochs. "
             f"Every score is {s['folds']}-fold cross-validation on N = {s['n']} rows unless stated; std is the "
             f"sample std over folds (and seeds).{quick_note}")
    note = "Quick mode: small N and few epochs: the verdicts only show that the rules run." if quick else ""
    out = [fnd.section(frames["findings"], note),
           Section("Learning curves", intro, figures=[labelled_data(datasets)]
                   + [plots.curves(hist[f], "accuracy", title=named(f)) for f in hist], tables=["curves_summary"])]
    st = frames["samples"]
    out.append(Section(
        "Accuracy and loss vs the number of samples",
        "f1, f2, f3 at each N (3-fold CV on N generated rows, a plan per function and N). " + _trend_text(st)
        + " f2's slow rise reflects the base net's short training as much as N: the initializer table below "
        "trains f2 to convergence.", figures=[versus_n(st)], tables=["samples"]))
    out.append(Section(
        "Gaussian-noise augmentation (f1)",
        f"N = {results['aug_n']} rows (at N = 4000 every variant sat at the base net's ceiling, 99.1-99.3 %, "
        "so the table measured nothing). Extra training rows: copies of a random 10 % or 20 % of each fold's "
        "training rows shifted by N(0, σ²) in data units (before scaling); fraction 0 is the un-augmented "
        "baseline. Every variant is an arm of one plan (same folds, same member seeds). Min validation loss and "
        "max validation accuracy over the epochs (the source's Table I quantities), mean over folds.",
        tables=["augmentation"]))
    out.append(_initializers(results, frames, quick))
    out.append(_grid(s, frames, best, datasets))
    out.append(Section(
        "Grid search as published (zero kernels)",
        "The same grid with every kernel initialised to zeros, as the source's Table II (table `grid_source`: "
        "its best nets scored 50.6–57.8 %). Best configuration per function, with each function's majority-class "
        "rate (table `grid_zeros_best`). With zero kernels every unit of a layer computes the same value and gets "
        "the same gradient (with relu, whose output at 0 is 0, no gradient at all), so each layer acts as one "
        "unit at best. The Dropout after the first layer is the exception: its random masks give the first "
        "layer's units different gradients, so they drift apart (the later layers stay one unit wide) and a "
        "sigmoid or tanh net can learn more than a constant.", tables=["grid_zeros_best", "grid_source"]))
    if "grid_vs_baselines" in frames:
        vb = frames["grid_vs_baselines"]
        verdicts = " ".join(f"{f}: {v}" for f, v in vb.groupby("function", sort=False)["verdict"].first().items())
        out.append(Section(
            "The grid's best against plain baselines",
            "Each function's best grid configuration (its `grid_best` row) beside scikit-learn baselines "
            "(majority class, logistic regression, random forest, gradient boosting) fitted on the same folds "
            "with the same scaling, tested as every comparison table is (`denselab.comparison`: corrected "
            "t-test, Holm, Bayesian test). " + verdicts, tables=["grid_vs_baselines"]))
    return out


def _initializers(results, frames, quick) -> Section:
    s = results["settings"]
    it, si = frames["initializers"], s["initializers"]
    return Section(
        "Weight initializers",
        f"Every Dense kernel (output included) from the named initializer; biases zero. Net: Dense {s['units']} "
        f"→ Dense {s['units']} → 1 sigmoid without Dropout, Adam at learning rate {si['learning_rate']:g}, "
        f"{si['epochs']} epochs, {s['folds']}-fold CV × {si['seeds']} seed(s) (fresh fold assignments) on "
        f"N = {s['n']} rows. " + ("Quick mode: far too few epochs to converge. " if quick else "")
        + "The default run trains to convergence, so the table compares initializers, not training budgets (at "
        "the base net's settings f2 had not converged for any initializer; the source gives no epochs, rate or "
        "function for its Table III)."
        "\n\n"
        "Zeros: no gradient reaches the kernels, the output is a constant, the majority class (table column "
        "`majority_rate`). Ones: every unit of a layer gets the same weights and the same gradient, so the net "
        "stays one unit wide and can draw one straight boundary at best: a line cannot follow f1's triangle or "
        "f2's rings, but most of f3's plane is split by the line x1 = 0, so one boundary already scores high "
        "there. " + _init_text(it) + _not_learned(it, results["near_chance"])
        + "\n\n" + _source_text(frames["initializers_source"], it),
        figures=[plots.bar_scores(it.assign(label=it["function"] + " · " + it["initializer"]), "label",
                                  "accuracy_mean", "accuracy_std", "CV accuracy per function · initializer")],
        tables=["initializers", "initializers_source"])


def _grid(s, frames, best, datasets) -> Section:
    where = ("every point an arm of the function's plan (same folds, same member seeds), one fleet call per "
             "function (`benchmarks/grid_speed.py` times it)")
    if s["grid_points"] == s["full_grid_points"]:
        scope = f"per function: the full grid (`--full`), {where}"
    else:
        scope = f"per function of the full {s['full_grid_points']} (`denselab study synthetic2d --full` runs it), {where}"
    maps = ("Each map is a fold net of its function's `grid_best` configuration: the fold whose accuracy is "
            "closest to that configuration's CV mean (table `grid_boundary_nets`: fold, fold accuracy, "
            "`cv_accuracy_mean`, which is `grid_best`'s `accuracy_mean`).")
    text = (f"Grid: {', '.join(f'{k} {list(v)}' for k, v in s['grid'].items())} = {s['grid_points']} points "
            f"{scope}, {s['grid_epochs']} epochs, {s['folds']}-fold CV. Nets: depth × Dense({s['units']}, "
            "activation), one Dropout after the first layer; sigmoid output with binary cross-entropy, tanh/relu/elu "
            "output with MSE on 0/1 labels; each optimizer at its Keras default learning rate; glorot-uniform "
            "kernels (the source used zeros: that grid is the next section). Best configuration per function "
            "in table `grid_best`; every point is in table `grid`; table `grid_timing` has one row per engine "
            "call. " + maps)
    figures = [decision_map(best[label], ds, label) for label, ds in datasets if label in best]
    return Section("Grid search", text, figures=figures, tables=["grid_best", "grid_boundary_nets", "grid_timing"])


def _trend_text(table: pd.DataFrame) -> str:
    parts = []
    for f, part in table.groupby("function", sort=False):
        part = part.sort_values("n")
        a, b = part.iloc[0], part.iloc[-1]
        parts.append(f"{f}: {100 * a['accuracy_mean']:.1f}% at N={int(a['n'])} → {100 * b['accuracy_mean']:.1f}% "
                     f"at N={int(b['n'])}")
    return "; ".join(parts) + "."


def _not_learned(table: pd.DataFrame, margin: float) -> str:
    """The nets the `learned` column flags: within `margin` of the majority-class rate."""
    flat = [f"{r['function']} {r['initializer']}" for _, r in table.iterrows() if not r["learned"]]
    return (f" Not learned (mean CV accuracy within {100 * margin:g} points of the majority class, column "
            f"`learned`): {', '.join(flat)}." if flat else " Every net here learned (column `learned`).")


def _init_text(table: pd.DataFrame) -> str:
    parts = []
    for f, part in table.groupby("function", sort=False):
        acc = dict(zip(part["initializer"], part["accuracy_mean"]))
        words = [f"chance {100 * part['majority_rate'].iloc[0]:.1f}%"]
        words += [f"{k} {100 * acc[k]:.1f}%" for k in ("zeros", "ones") if k in acc]
        rand = [v for k, v in acc.items() if k not in ("zeros", "ones")]
        if rand:
            spread = f"{100 * min(rand):.1f}–" if len(rand) > 1 else ""
            words.append(f"random initializers {spread}{100 * max(rand):.1f}%")
        parts.append(f"{f}: " + ", ".join(words))
    return "Mean CV accuracy: " + "; ".join(parts) + "."


def _source_text(source: pd.DataFrame, table: pd.DataFrame) -> str:
    acc = dict(zip(source["initializer"], source["accuracy"]))
    rand = [v for k, v in acc.items() if k not in ("zeros", "ones")]
    text = (f"The source's Table III (one run on a function it does not name; minimum loss and maximum accuracy "
            f"during training, table `initializers_source`): zeros {100 * acc['zeros']:.2f}%, ones "
            f"{100 * acc['ones']:.2f}%, random initializers {100 * min(rand):.2f}–{100 * max(rand):.2f}%.")
    same, other = [], []
    for f, part in table.groupby("function", sort=False):
        constant = part[part["initializer"].isin(["zeros", "ones"])]["accuracy_mean"]
        random = part[~part["initializer"].isin(["zeros", "ones"])]["accuracy_mean"]
        if len(constant) and len(random):
            (same if random.min() > constant.max() else other).append(f)
    if same:
        text += f" Same direction here (every random initializer above zeros and ones) on {', '.join(same)}."
    if other:
        text += f" Not on {', '.join(other)}: a random initializer scores at or below zeros or ones there."
    return text


def write(out: Path, sections: list, results: dict, frames: dict) -> Path:
    return write_report(out, TITLE, sections, results, frames)
