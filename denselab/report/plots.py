"""Figures of a report: pure functions from numbers to a matplotlib `Figure`.

Every function here returns a figure and never shows it; `html.write_report`
renders and closes it. Figures are built on `matplotlib.figure.Figure` directly
(no pyplot state, no seaborn); the Agg backend is chosen here when nobody chose a
backend before (for anyone who does use pyplot, e.g. `plt.close`).

Example:
    >>> fig = curves([{"loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
    ...                "accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7]}], "accuracy")
    >>> type(fig).__name__
    'Figure'
"""

from __future__ import annotations

import os
import sys
import warnings

import matplotlib

if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")  # headless: reports are files, never windows

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

MAX_PAIR_FEATURES = 12  # a 12 × 12 grid is the most a page can show legibly
CORNER_FEATURES = 6  # past this, the mirrored upper triangle only costs space and time
PAIR_SAMPLE_ROWS = 600  # enough to see the clouds; keeps a 12 × 12 grid under a few seconds
MAX_MATRIX_CLASSES = 20  # a confusion matrix, a legend or a palette past this is unreadable (and grows as k²)
GRID_STEPS = 200  # decision-boundary resolution per axis
SURFACE_STEPS = 40  # 3-D surface resolution per axis
_METRIC_NAMES = {"accuracy": "accuracy", "mse": "mean squared error", "loss": "loss"}


def _palette(k: int) -> list:
    """k distinct colours (tab10, then tab20)."""
    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def _stack(histories: list[dict], key: str) -> np.ndarray | None:
    """Members × epochs array of `key`, shorter runs padded with NaN; None if no member has it."""
    rows = [np.asarray(h[key], dtype=float) for h in histories if key in h and len(h[key])]
    if not rows:
        return None
    out = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _band(ax, values: np.ndarray, label: str, color) -> None:
    """Mean line with a shaded min–max band over members (NaN-aware)."""
    epochs = np.arange(1, values.shape[1] + 1)
    with warnings.catch_warnings():  # an epoch where every run diverged (all NaN) stays a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, lo, hi = np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)
    n = len(values)
    ax.plot(epochs, mean, color=color, lw=2, label=f"{label} (mean of {n})" if n > 1 else label)
    if n > 1:
        ax.fill_between(epochs, lo, hi, color=color, alpha=0.15, lw=0)


def curves(histories: list[dict], metric: str, val_label: str = "validation", log: bool = False,
           title: str | None = None) -> Figure:
    """Learning curves: loss and `metric` per epoch, training and validation.

    Each line is the mean over members (folds × seeds); the band spans their min–max.
    Members stopped early simply end sooner (padded with NaN). `log`: both y axes
    logarithmic (errors that fall by decades, as a regression's MSE does).
    `title`: what the curves are of (shown before the run count).
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key in zip(axes, ["loss", metric]):
        for prefix, label, color in [("", "training", "tab:blue"), ("val_", val_label, "tab:orange")]:
            values = _stack(histories, prefix + key)
            if values is not None:
                _band(ax, values, label, color)
        name = _METRIC_NAMES.get(key, key)
        ax.set(title=f"{name.capitalize()} per epoch", xlabel="epoch", ylabel=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log and ax.has_data():
            ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both" if log else "major")
        if ax.has_data():
            ax.legend()
    n = len(histories)
    fig.suptitle(f"{title + ': learning' if title else 'Learning'} curves ({n} run{'s' if n != 1 else ''}; "
                 "band = min–max over runs)")
    return fig


def most_frequent(labels, k: int) -> list:
    """The k most frequent labels (as text), most frequent first, ties in label order."""
    values, counts = np.unique(np.asarray([str(v) for v in labels]), return_counts=True)
    order = np.lexsort((values, -counts))
    return [str(v) for v in values[order[:k]]]


def confusion(y_true: list, y_pred: list, classes: list) -> Figure:
    """Confusion matrix: counts written in each cell, colour = share of the true class (row).

    With more than MAX_MATRIX_CLASSES classes the matrix shows the most frequent true
    classes and gathers the rest in one `other` row and column (the title says so), so the
    figure and its memory stay the same size for 1 000 classes as for 20.
    """
    classes = [str(c) for c in classes]
    truth, guess = [str(v) for v in y_true], [str(v) for v in y_pred]
    total = len(classes)
    if total > MAX_MATRIX_CLASSES:
        classes = most_frequent(truth, MAX_MATRIX_CLASSES - 1) + ["other"]
    index = {c: i for i, c in enumerate(classes)}
    missing = len(classes) - 1 if total > MAX_MATRIX_CLASSES else -1  # → `other`, or left out as sklearn does
    t = np.array([index.get(v, missing) for v in truth], dtype=int)
    g = np.array([index.get(v, missing) for v in guess], dtype=int)
    keep = (t >= 0) & (g >= 0)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(counts, (t[keep], g[keep]), 1)
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    size = 2.5 + 0.6 * len(classes)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{counts[i, j]}", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=10)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=45 if max(map(len, classes)) > 4 else 0, ha="right")
    ax.set_yticks(ticks, classes)
    shown = (f"the {len(classes) - 1} most frequent of {total} classes, the rest as `other`; "
             if total > MAX_MATRIX_CLASSES else "")
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Confusion matrix ({shown}{counts.sum()} predictions)")
    fig.colorbar(image, ax=ax, label="share of the true class")
    return fig


def _pair_sample(frame: pd.DataFrame, hue: str | None, rows: int = PAIR_SAMPLE_ROWS) -> pd.DataFrame:
    """At most `rows` rows, sampled per class when there are classes."""
    if len(frame) <= rows:
        return frame
    frac = rows / len(frame)
    if hue is None:
        return frame.sample(rows, random_state=0)
    parts = [g.sample(max(1, round(len(g) * frac)), random_state=0)
             for _, g in frame.groupby(hue, observed=True, sort=False)]
    return pd.concat(parts)


def pairplot(frame: pd.DataFrame, target: str, height: float | None = None,
             max_rows: int = PAIR_SAMPLE_ROWS) -> Figure:
    """Pair plot of the numeric features, coloured by class, KDE on the diagonal.

    At most MAX_PAIR_FEATURES features (the first ones) and `max_rows` rows (sampled per
    class) are drawn; the title says so. `height`: inches per panel (default: what fits
    15 inches). The rarest classes are drawn last, so a small class stays visible on top
    of a large one. Past CORNER_FEATURES features only
    the lower triangle is drawn (the upper one mirrors it). A numeric target with many
    values (regression) is drawn as one more variable instead of a colour.

    Seaborn's `PairGrid` look (one range per variable down its column and along its row,
    ticks on the outer panels only, each diagonal density on its own y scale,
    Scott's-rule KDEs, one per class) drawn with matplotlib alone: seaborn's import, its
    shared axes (every panel makes its own ticks) and `tight_layout` passes cost ~1 s of
    a run's report for iris.
    """
    from matplotlib.lines import Line2D

    features = [c for c in frame.columns if c != target and pd.api.types.is_numeric_dtype(frame[c])]
    dropped = max(0, len(features) - MAX_PAIR_FEATURES)
    features = features[:MAX_PAIR_FEATURES]
    regression = pd.api.types.is_numeric_dtype(frame[target]) and frame[target].nunique() > MAX_PAIR_FEATURES
    data = frame[features + [target]].dropna()
    hue = None if regression else target
    gathered = 0
    if hue is not None:
        data = data.assign(**{target: data[target].astype(str)})
        if data[target].nunique() > MAX_MATRIX_CLASSES:
            gathered = data[target].nunique()  # colours, KDEs and legend of the most frequent only
            kept = set(most_frequent(data[target], MAX_MATRIX_CLASSES - 1))
            data[target] = data[target].where(data[target].isin(kept), "other")
    sample = _pair_sample(data, hue, max_rows)
    if hue:  # most frequent class first: rare classes are drawn on top
        sample = sample.iloc[np.argsort(-sample[hue].map(sample[hue].value_counts()).to_numpy(), kind="stable")]
    variables = features + ([target] if regression else [])
    classes = sorted(sample[hue].unique()) if hue else []
    palette = _palette(len(classes)) if hue else None
    corner = len(variables) > CORNER_FEATURES
    n = max(len(variables), 1)
    size = height or min(2.4, 15 / n)
    fig = Figure(figsize=(size * n, size * n))
    axes = fig.subplots(n, n, squeeze=False)  # not shared: shared axes make every panel's own ticks
    fig.subplots_adjust(left=0.5 / (size * n) + 0.04, bottom=0.45 / (size * n) + 0.04, right=0.98, top=0.97,
                        wspace=0.08, hspace=0.08)
    values = {v: sample[v].to_numpy(dtype=float) for v in variables}
    limits, ticks = {}, {}
    for v in variables:  # each variable's range (+5 %, matplotlib's margin) and 3 ticks, on every panel alike
        finite = values[v][np.isfinite(values[v])]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        limits[v] = (lo - pad, hi + pad)
        ticks[v] = [t for t in MaxNLocator(3).tick_values(lo - pad, hi + pad) if lo - pad <= t <= hi + pad]
    colors = [dict(zip(classes, palette))[v] for v in sample[hue]] if hue else "tab:blue"
    groups = [(sample[hue].to_numpy() == c, color) for c, color in zip(classes, palette)] if hue else [
        (np.ones(len(sample), bool), "tab:blue")]
    labelsize = 8 if len(variables) > CORNER_FEATURES else 9
    for (i, j), ax in np.ndenumerate(axes):
        if corner and j > i:
            fig.delaxes(ax)
            continue
        x, y = variables[j], variables[i]
        own_scale = False  # a diagonal panel whose y axis is the density's
        if i == j:  # the densities on their own y scale (on a twin in the first column, which shows the row's)
            density = ax.twinx() if j == 0 and not corner else ax
            for mask, color in groups:
                _kde_line(density, values[x][mask], color)
            density.set_ylim(bottom=0)
            if density is ax:
                own_scale = True
            else:
                density.set_axis_off()
        else:
            ax.scatter(values[x], values[y], c=colors, s=8 if len(sample) > 200 else 16, alpha=0.6, linewidths=0)
        ax.set_xlim(limits[x])
        if not own_scale:
            ax.set_ylim(limits[y])
        ax.set_xticks(ticks[x] if i == n - 1 else [])  # tick labels on the outer panels only
        ax.set_yticks(ticks[y] if j == 0 and not own_scale else [])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if i == n - 1:
            ax.set_xlabel(x)
        if j == 0 and not own_scale:
            ax.set_ylabel(y)
        ax.tick_params(labelsize=labelsize)
    if hue:
        handles = [Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in zip(classes, palette)]
        where = {"loc": "upper right", "bbox_to_anchor": (0.98, 0.9)} if corner else {
            "loc": "center left", "bbox_to_anchor": (1.0, 0.5)}  # the empty triangle, or outside
        fig.legend(handles=handles, title=target, frameon=False, fontsize=11, title_fontsize=12,
                   markerscale=1.5, **where)
    notes = []
    if len(sample) < len(data):
        notes.append(f"random sample of {len(sample)} of {len(data)} rows" + (", per class" if hue else ""))
    if dropped:
        notes.append(f"first {MAX_PAIR_FEATURES} features shown, {dropped} left out")
    if gathered:
        notes.append(f"the {MAX_MATRIX_CLASSES - 1} most frequent of {gathered} classes coloured, the rest as other")
    title = f"Pair plot of the features, coloured by {target}" if hue else f"Pair plot of the features and {target}"
    fig.suptitle(title + (f"\n({'; '.join(notes)})" if notes else ""), y=1.02)
    return fig


def _kde_line(ax, x: np.ndarray, color) -> None:
    """scipy's Gaussian KDE of `x` (Scott's bandwidth) on 200 points cut 3 bandwidths past
    the data, as seaborn's `kdeplot` draws it; nothing for fewer than 2 distinct values (singular)."""
    from scipy.stats import gaussian_kde

    x = x[np.isfinite(x)]
    if len(x) < 2 or np.ptp(x) == 0:
        return
    kde = gaussian_kde(x)
    bw = float(np.sqrt(kde.covariance[0, 0]))
    grid = np.linspace(x.min() - 3 * bw, x.max() + 3 * bw, 200)
    ax.plot(grid, kde(grid), color=color, lw=1.5)


def _luminance(rgba) -> float:
    """Relative luminance of a colour (WCAG), to write dark text on light cells and white on dark."""
    rgb = np.asarray(rgba[:3], dtype=float)
    rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(rgb @ [0.2126, 0.7152, 0.0722])


def correlation(frame: pd.DataFrame) -> Figure:
    """Heat map of the Pearson correlation between numeric columns (−1 blue … +1 red), each
    cell written in (up to 20 columns), as seaborn's `heatmap` draws it."""
    corr = frame.select_dtypes("number").corr(method="pearson")
    n = len(corr)
    size = 3 + 0.55 * n
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["RdBu_r"]
    image = ax.imshow(corr.to_numpy(), cmap=cmap, vmin=-1, vmax=1)
    if n <= 20:
        for (i, j), value in np.ndenumerate(corr.to_numpy()):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8 if n > 10 else 10,
                        color=".15" if _luminance(cmap((value + 1) / 2)) > 0.408 else "w")
    names = [str(c) for c in corr.columns]
    cell = size * 0.7 / max(n, 1)  # inches per cell, roughly: wider labels than that stand up
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, rotation=90 if max(map(len, names), default=0) * 0.075 > cell else 0)
    ax.set_yticks(ticks, names)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, label="Pearson correlation", shrink=0.8)
    bar.outline.set_linewidth(0)
    ax.set_title(f"Correlation between the {n} numeric columns")
    return fig


def _codes(labels, classes: list) -> np.ndarray:
    """Class codes 0..k-1 from labels given as class names or as codes."""
    labels = np.asarray(labels)
    names = [str(c) for c in classes]
    if labels.dtype.kind in "iub":
        return labels.astype(int)
    index = {c: i for i, c in enumerate(names)}
    if all(str(v) in index for v in labels):
        return np.array([index[str(v)] for v in labels])
    return labels.astype(float).astype(int)


def _grid(x: np.ndarray, steps: int):
    """Mesh over the data range plus a 5 % margin: (xx, yy, points n×2)."""
    lo, hi = x.min(0), x.max(0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    xx, yy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)


def decision_boundary(predict_proba, x: np.ndarray, labels, classes: list, feature_names: list) -> Figure:
    """Predicted class over the plane of two features, with the data points on top.

    predict_proba(points n×2) returns class probabilities n×k, or n / n×1 = P(class 1)
    for a binary head. Binary: the colour is P(class 1) and the line is the 0.5 boundary.
    """
    x = np.asarray(x, dtype=float)
    codes = _codes(labels, classes)
    xx, yy, points = _grid(x, GRID_STEPS)
    proba = np.asarray(predict_proba(points), dtype=float)
    if proba.ndim == 1 or proba.shape[1] == 1:
        p1 = proba.reshape(-1)
        proba = np.column_stack([1 - p1, p1])
    k = len(classes)
    colors = _palette(k)
    fig = Figure(figsize=(7.5, 6), layout="constrained")
    ax = fig.subplots()
    if k == 2:
        filled = ax.contourf(xx, yy, proba[:, 1].reshape(xx.shape), levels=np.linspace(0, 1, 11),
                             cmap="RdBu_r", alpha=0.45)
        ax.contour(xx, yy, proba[:, 1].reshape(xx.shape), levels=[0.5], colors="k", linewidths=1.5)
        fig.colorbar(filled, ax=ax, label=f"predicted P({classes[1]})")
        colors = [matplotlib.colormaps["RdBu_r"](0.1), matplotlib.colormaps["RdBu_r"](0.9)]
    else:
        predicted = proba.argmax(1).reshape(xx.shape)
        ax.contourf(xx, yy, predicted, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.3)
    title = "Decision regions of the network (colour) and the true classes (points)"
    if k > MAX_MATRIX_CLASSES:  # one scatter and no legend: a legend of 1 000 classes outgrows any page
        ax.scatter(x[:, 0], x[:, 1], s=16, c=[colors[c] for c in codes], edgecolor="k", linewidth=0.4)
        ax.set(xlabel=feature_names[0], ylabel=feature_names[1], title=f"{title}\n({k} classes: no legend)")
        return fig
    for code, name in enumerate(classes):
        mask = codes == code
        ax.scatter(x[mask, 0], x[mask, 1], s=16, color=colors[code], edgecolor="k", linewidth=0.4,
                   label=str(name))
    ax.set(xlabel=feature_names[0], ylabel=feature_names[1], title=title)
    ax.legend(title="true class", loc="best", fontsize=9, framealpha=0.8)
    return fig


def surface3d(predict, x: np.ndarray, y: np.ndarray, feature_names: list, target_name: str,
              x_test: np.ndarray | None = None, y_test: np.ndarray | None = None, title: str | None = None) -> Figure:
    """The network's prediction as a surface over two features, with the data points:
    training points red and, when given, test points blue (as the Keras workshop drew them)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float).reshape(-1)
    xx, yy, points = _grid(x if x_test is None else np.vstack([x, np.asarray(x_test, dtype=float)]), SURFACE_STEPS)
    zz = np.asarray(predict(points), dtype=float).reshape(-1)[: xx.size].reshape(xx.shape)
    fig = Figure(figsize=(8, 6.5), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    surface = ax.plot_surface(xx, yy, zz, cmap="viridis", alpha=0.6, linewidth=0, antialiased=True)
    ax.scatter(x[:, 0], x[:, 1], y, s=8, color="crimson", depthshade=False,
               label="data" if x_test is None else f"training ({len(y)})")
    if x_test is not None:
        xt, yt = np.asarray(x_test, dtype=float), np.asarray(y_test, dtype=float).reshape(-1)
        ax.scatter(xt[:, 0], xt[:, 1], yt, s=12, color="tab:blue", depthshade=False, label=f"test ({len(yt)})")
    ax.set(xlabel=feature_names[0], ylabel=feature_names[1], zlabel=target_name,
           title=title or f"Predicted {target_name} (surface) and the data (points)")
    fig.colorbar(surface, ax=ax, shrink=0.6, pad=0.08, label=f"predicted {target_name}")
    ax.legend(loc="upper left")
    return fig


def bar_scores(table: pd.DataFrame, label_col: str, mean_col: str, std_col: str, title: str) -> Figure:
    """Horizontal bars (mean) with error bars (± std), one per configuration, in table order."""
    labels = table[label_col].astype(str).tolist()
    means = table[mean_col].to_numpy(float)
    stds = table[std_col].to_numpy(float)
    fig = Figure(figsize=(8, 1.5 + 0.45 * len(labels)), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(labels))
    ax.barh(pos, means, xerr=np.nan_to_num(stds), color="tab:blue", alpha=0.75, capsize=3,
            error_kw={"elinewidth": 1})
    for p, m, s in zip(pos, means, stds):
        ax.text(m + (0 if np.isnan(s) else s), p, f"  {m:.3g}", va="center", fontsize=9)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()  # first row on top, as in the table
    ax.set(title=title, xlabel=f"{mean_col} (bar) ± {std_col} (line)")
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    return fig


def predicted_vs_actual(groups: dict, target_name: str) -> Figure:
    """Regression fit at a glance: predicted against true values (left) and residuals (right).

    groups: `{label: (y_true, y_pred)}`, e.g. the CV members' held-out rows and the test
    rows; each is one colour. The diagonal is a perfect prediction, the zero line no error.
    """
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    colors = _palette(len(groups))
    lows, highs = [], []
    for (label, (y_true, y_pred)), color in zip(groups.items(), colors):
        t, p = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
        left.scatter(t, p, s=10, alpha=0.6, color=color, label=f"{label} ({len(t)})")
        right.scatter(p, t - p, s=10, alpha=0.6, color=color, label=label)
        finite = np.concatenate([t, p])[np.isfinite(np.concatenate([t, p]))]
        if finite.size:
            lows.append(finite.min())
            highs.append(finite.max())
    if lows:
        lo, hi = min(lows), max(highs)
        left.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="perfect")
    right.axhline(0.0, color="black", linewidth=1)
    left.set(xlabel=f"true {target_name}", ylabel=f"predicted {target_name}", title="Predicted vs actual")
    right.set(xlabel=f"predicted {target_name}", ylabel="residual (true − predicted)", title="Residuals")
    left.legend(loc="upper left", fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig
