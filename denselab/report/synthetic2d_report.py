"""Figures of the synthetic2d study's page: the labelled data (the source's Fig. 1) and the
sample-size curves (its Fig. 3). Pure functions from numbers to a matplotlib `Figure`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def labelled_data(datasets: list) -> Figure:
    """One scatter per labelling function: its points coloured by label (the source's Fig. 1)."""
    fig = Figure(figsize=(3.4 * len(datasets), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(datasets)))
    for ax, (label, ds) in zip(axes, datasets):
        x, y = np.asarray(ds.x_train, dtype=float), np.asarray(ds.y_train)
        for code, color in ((0, "tab:blue"), (1, "tab:orange")):
            ax.scatter(x[y == code, 0], x[y == code, 1], s=3, color=color, label=f"label {ds.classes[code]}")
        ax.set(title=f"{label} ({len(y)} points)", xlabel=ds.feature_names[0], ylabel=ds.feature_names[1],
               aspect="equal")
        ax.legend(fontsize=7, markerscale=3, loc="lower left")
    fig.suptitle("The labelled data, one panel per function")
    return fig


def versus_n(table: pd.DataFrame) -> Figure:
    """CV accuracy and loss against N per function; the log axis is ticked at the N run."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for f, part in table.groupby("function", sort=False):
        for ax, col in zip(axes, ("accuracy", "loss")):
            ax.errorbar(part["n"], part[f"{col}_mean"], yerr=part[f"{col}_std"].fillna(0), marker="o",
                        capsize=3, label=f)
    sizes = sorted(table["n"].unique())
    for ax, col in zip(axes, ("accuracy", "loss")):
        ax.set(xscale="log", xlabel="number of samples N", ylabel=f"CV {col} (mean ± std over folds)",
               title=f"{col} vs N, per function")
        ax.set_xticks(sizes, [str(int(n)) for n in sizes])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        ax.legend(title="function")
    return fig
