"""Tables of a report: pure functions from results to pandas DataFrames.

Every number a report shows comes from one of these frames, and `html.write_report`
writes each frame to `<name>.csv` next to the page.

Example:
    >>> df = fold_scores([0.9, 0.8, 0.85, 0.95], fold=[0, 1, 0, 1], seed=[0, 0, 1, 1], metric="accuracy")
    >>> mean_std(df, by="seed", value="accuracy")["mean"].round(3).tolist()
    [0.85, 0.9]
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def fold_scores(scores, fold, seed, metric: str) -> pd.DataFrame:
    """One row per member: fold, seed and its held-out `metric`."""
    return pd.DataFrame({"fold": np.asarray(fold, dtype=int), "seed": np.asarray(seed, dtype=int),
                         metric: np.asarray(scores, dtype=float)})


def mean_std(df: pd.DataFrame, by, value: str) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and n of `value` per group of `by` (a column or a list)."""
    out = df.groupby(by, sort=False, observed=True)[value].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


def summary_row(label: str, summary, metric: str) -> dict:
    """One configuration's `Summary` (mean, std, n, ci95) as a flat row."""
    lo, hi = summary.ci95
    return {"configuration": label, "metric": metric, "mean": summary.mean, "std": summary.std,
            "n": summary.n, "ci95_low": lo, "ci95_high": hi}


def cv_summary(results: dict) -> pd.DataFrame:
    """Compare configurations: `{label: CVResult}` → one row each (mean, std, n, 95 % CI, time)."""
    rows = []
    for label, cv in results.items():
        row = summary_row(label, cv.summary, cv.metric)
        row.update(engine=cv.engine, compile_s=cv.compile_s, run_s=cv.run_s)
        rows.append(row)
    return pd.DataFrame(rows)


def histories(histories: list[dict], tags: list[dict] | None = None) -> pd.DataFrame:
    """Long-form epoch histories: one row per member and epoch, one column per history key.

    tags: optional per-member columns (e.g. `{"fold": 0, "seed": 1}`); default `member` index.
    """
    frames = []
    for i, h in enumerate(histories):
        length = max((len(v) for v in h.values()), default=0)
        cols = {k: np.pad(np.asarray(v, dtype=float), (0, length - len(v)), constant_values=np.nan)
                for k, v in h.items()}
        frame = pd.DataFrame({"member": i, "epoch": np.arange(1, length + 1), **cols})
        for k, v in (tags[i] if tags else {}).items():
            frame[k] = v
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["member", "epoch"])


def confusion_table(y_true, y_pred, classes: list) -> pd.DataFrame:
    """Counts: rows = true class, columns = predicted class (the numbers of `plots.confusion`)."""
    from sklearn.metrics import confusion_matrix

    names = [str(c) for c in classes]
    counts = confusion_matrix([str(v) for v in y_true], [str(v) for v in y_pred], labels=names)
    frame = pd.DataFrame(counts, index=pd.Index(names, name="true"), columns=names)
    return frame.reset_index()


def top_confusions(y_true, y_pred, k: int = 20) -> pd.DataFrame:
    """The k most frequent mistakes: true class, predicted class, count, share of the true class.

    Memory grows with the rows, not with classes² (what a full matrix of 1 000 classes costs).
    """
    truth = pd.Series([str(v) for v in y_true], name="true")
    pairs = pd.DataFrame({"true": truth, "predicted": [str(v) for v in y_pred]})
    wrong = pairs[pairs["true"] != pairs["predicted"]]
    counts = wrong.value_counts(["true", "predicted"], sort=False).rename("count").reset_index()
    counts = counts.sort_values(["count", "true", "predicted"], ascending=[False, True, True]).head(k)
    support = truth.value_counts()
    counts["share_of_true"] = counts["count"] / support.loc[counts["true"]].to_numpy()
    return counts.reset_index(drop=True)


def scores_table(scores: dict, label: str = "test") -> pd.DataFrame:
    """A `{name: value}` dict (e.g. `Holdout.scores`) as a one-row table."""
    return pd.DataFrame([{"set": label, **{k: float(v) for k, v in scores.items()}}])
