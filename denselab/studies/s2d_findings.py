"""The 2-D study's findings (Prodan et al. 2022) judged on synthetic2d's own numbers, and the
source's printed tables they quote (`SOURCE_TABLE_II`, `SOURCE_TABLE_III`).

Claims and rules (`studies/findings.py`):
- Fig. 3: accuracy falls as N shrinks. Different N are different generated sets, so the
  scores are not paired: the claim holds when the largest N's 95 % interval lies wholly
  above the smallest N's (rule `apart`).
- Table I: noisy copies help (the best augmented variant against no augmentation, Holm
  over the variants of the table), 10 % beats 20 % at each σ, σ = 3 beats σ = 2 (pairs on
  the same folds: rule `higher`).
- Table III: random normal beats zeros on each function (`higher`) and is tied with the
  best initializer there (Holm over the initializers; rule `tied`).
- Table II: the grid as published (zero kernels) stays within 5 points of chance (rule
  `at_most`); on the careful grid (glorot-uniform), SGD at the smallest depth (f1, f3) and
  dropout 0.3 are tied with the best configuration (Holm over the grid; rule `tied`).

Example:
    >>> from denselab.studies.s2d_findings import SOURCE_CLAIMS
    >>> len(SOURCE_CLAIMS) > 0
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from denselab import comparison
from denselab.spec import EvalSpec
from denselab.studies import findings as fnd

# Prodan et al.'s Table III (initializers; accuracy as a fraction) and Table II (zero-kernel grid), as printed.
SOURCE_TABLE_III = {
    "initializer": ["zeros", "ones", "random_uniform", "random_normal", "truncated_normal", "orthogonal"],
    "loss": [0.6914, 0.6913, 0.2921, 0.1405, 0.2534, 0.1751],
    "accuracy": [0.5299, 0.5525, 0.9100, 0.9474, 0.9125, 0.9150],
}
SOURCE_TABLE_II = {"function": ["f1", "f2", "f3"], "optimizer": ["sgd", "adam", "sgd"],
                   "activation": ["sigmoid", "relu", "sigmoid"], "output_activation": ["sigmoid"] * 3,
                   "depth": [5, 15, 5], "dropout": [0.3, 0.3, 0.3], "accuracy": [0.5231, 0.5062, 0.5775]}

SOURCE_CLAIMS = {
    "samples": "Validation accuracy goes down when N is reduced (Fig. 3)",
    "noise": "Data augmentation with noisy copies lets the model learn better (Table I, conclusions)",
    "ten": "10 % augmentation beats 20 % at every σ (Table I: 98.75/97.12/99.12 % vs 97.62/94.62/98.37 %)",
    "sigma": "σ = 3 gives the best and σ = 2 the worst results (Table I, 10 %: 99.12 % vs 97.12 %)",
    "init": "Random initializers beat zeros (Table III: random normal 94.74 %, zeros 52.99 %)",
    "normal": "Random normal initialization leads to the best results (Table III)",
}


def _table(members: pd.DataFrame, key: str, names=None) -> pd.DataFrame:
    """A comparison table (`comparison.build`) of the member rows grouped by `key`, paired by split."""
    entries = []
    for name, part in members.groupby(key, sort=False):
        if names is None or name in names:
            part = part.sort_values(["repeat", "fold", "seed"])
            entries.append(comparison.Entry(str(name), "network", part["accuracy"].to_numpy(float),
                                            list(zip(part["repeat"], part["fold"], part["seed"]))))
    n = float(members.groupby(["repeat", "fold"]).size().mean())
    return comparison.build(entries, "accuracy", n * 2, n, EvalSpec().rope)


def _pair(members, key, a, b, source, finding) -> fnd.Finding:
    table = _table(members, key, {a, b})
    if len(table) < 2:
        return fnd.Finding(source, finding, fnd.UNTESTABLE, f"this run did not train `{a}` and `{b}` (quick run)")
    verdict, evidence, got = fnd.higher(table, a, b)
    return fnd.Finding(source, finding, verdict, evidence, got)


CHANCE_MARGIN = 0.05  # "near chance": within 5 points of the majority-class rate (report.diagnosis's margin)
TWO_CLUSTERS = ("f1", "f3")  # the source's "data separated only in two clusters"


def _config(m: pd.DataFrame) -> list:
    return [f"{o}/{a}/{out}/depth {d}/dropout {p:g}" for o, a, out, d, p in
            zip(m["optimizer"], m["activation"], m["output_activation"], m["depth"], m["dropout"])]


def _grid(grid: pd.DataFrame, zeros_best: pd.DataFrame) -> list:
    out = []
    for row in zeros_best.itertuples():
        bound = row.majority_rate + CHANCE_MARGIN
        out.append(fnd.Finding(
            "With zero kernels the grid's best nets stay near chance (Table II: 52.31 %, 50.62 %, 57.75 %)",
            f"{row.function}: the grid as published (zero kernels), best configuration",
            fnd.HOLDS if row.accuracy_mean <= bound else fnd.FAILS,
            f"best {fnd.pct(row.accuracy_mean)} ({row.optimizer}/{row.activation}/depth {row.depth}); majority "
            f"class {fnd.pct(row.majority_rate)}; near chance = at most {fnd.pct(bound)}",
            {"rule": "at_most", "value": row.accuracy_mean, "threshold": bound}))
    members = grid.attrs.get("members")
    if members is None:
        return out
    members = members.assign(config=_config(members))
    for f, part in members.groupby("data", sort=False):
        table = _table(part, "config").set_index("name")
        best = table.index[0]
        claims = [("The best drop-out rate is around 0.3 (Table II)", "dropout 0.3", lambda c: "/dropout 0.3" in c)]
        if f in TWO_CLUSTERS:
            depth = min(members["depth"])
            claims.insert(0, ("SGD and fewer layers give the best accuracy on two clusters (Table II, text)",
                              f"SGD at depth {depth}", lambda c, d=depth: c.startswith("sgd/") and f"/depth {d}/" in c))
        for source, what, pick in claims:
            chosen = [c for c in table.index if pick(c)]
            if not chosen:
                out.append(fnd.Finding(source, f"{f}: {what}", fnd.UNTESTABLE, f"the grid of this run has no {what}"))
                continue
            row = table.loc[chosen[0]]  # the best of them (rows are ranked)
            out.append(fnd.Finding(
                source, f"{f}: the best {what} net vs the best of the grid (glorot-uniform kernels)",
                fnd.HOLDS if row["tied_with_best"] else fnd.FAILS,
                f"{chosen[0]} {fnd.interval(row)}; best {best} {fnd.interval(table.loc[best])}; "
                + ("it is the best" if chosen[0] == best else f"Holm-adjusted p = {row['p_holm']:.3g} over "
                   f"{len(table) - 1} configurations: " + ("tied with the best" if row["tied_with_best"]
                                                           else "significantly worse")),
                {"rule": "tied", "tied_with_best": bool(row["tied_with_best"])}))
    return out


def findings(samples: pd.DataFrame, aug: pd.DataFrame, inits: pd.DataFrame, grid: pd.DataFrame,
             zeros_best: pd.DataFrame) -> list:
    out = []
    for f, part in samples.groupby("function", sort=False):
        part = part.sort_values("n")
        lo, hi = part.iloc[0], part.iloc[-1]
        ci = {}
        for label, row in (("small", lo), ("large", hi)):
            half = stats.t.ppf(0.975, row["members"] - 1) if row["members"] > 1 else np.nan
            half = half * row["accuracy_std"] / np.sqrt(row["members"])  # clipped to accuracy's [0, 1]
            ci[label] = (max(row["accuracy_mean"] - half, 0.0), min(row["accuracy_mean"] + half, 1.0))
        apart = ci["large"][0] > ci["small"][1]
        out.append(fnd.Finding(
            SOURCE_CLAIMS["samples"], f"{f}: N = {int(hi['n'])} vs N = {int(lo['n'])}", fnd.HOLDS if apart else fnd.FAILS,
            f"N = {int(hi['n'])}: {fnd.pct(hi['accuracy_mean'])} [{fnd.pct(ci['large'][0])}, {fnd.pct(ci['large'][1])}]"
            f"; N = {int(lo['n'])}: {fnd.pct(lo['accuracy_mean'])} [{fnd.pct(ci['small'][0])}, "
            f"{fnd.pct(ci['small'][1])}]" + ("" if apart else ": the intervals overlap, no detectable difference"),
            {"rule": "apart", "low_a": ci["large"][0], "high_b": ci["small"][1]}))
    members = aug.attrs["members"].assign(variant=lambda m: [
        "no noise" if fr == 0 else f"{fr:.0%} σ {sg:g}" for fr, sg in zip(m["fraction"], m["sigma"])])
    table = _table(members, "variant")
    noisy = table[table["name"] != "no noise"]
    if len(noisy):
        best = noisy.iloc[0]["name"]
        verdict, evidence, got = fnd.higher(table, best, "no noise")
        out.append(fnd.Finding(SOURCE_CLAIMS["noise"], f"f1, N = {int(aug['n'].iloc[0])}: best variant {best} vs no "
                               "noise (Holm over the variants)", verdict, evidence, got))
    for sigma in sorted(members["sigma"].unique()):
        if sigma > 0:
            out.append(_pair(members, "variant", f"10% σ {sigma:g}", f"20% σ {sigma:g}", SOURCE_CLAIMS["ten"],
                             f"f1, σ = {sigma:g}: 10 % vs 20 % copies"))
    out.append(_pair(members, "variant", "10% σ 3", "10% σ 2", SOURCE_CLAIMS["sigma"], "f1, 10 % copies: σ 3 vs σ 2"))
    im = inits.attrs["members"]
    for f, part in im.groupby("data", sort=False):
        out.append(_pair(part, "initializer", "random_normal", "zeros", SOURCE_CLAIMS["init"],
                         f"{f}: random_normal vs zeros"))
        table = _table(part, "initializer").set_index("name")
        if "random_normal" in table.index and len(table) > 2:
            row = table.loc["random_normal"]
            best = table.index[0]
            out.append(fnd.Finding(SOURCE_CLAIMS["normal"], f"{f}: random_normal vs the best ({best})",
                                   fnd.HOLDS if row["tied_with_best"] else fnd.FAILS,
                                   f"random_normal {fnd.interval(row)}; best {best} {fnd.interval(table.loc[best])}; "
                                   + ("it is the best" if best == "random_normal" else
                                      f"Holm-adjusted p = {row['p_holm']:.3g}"
                                      + (": tied with the best" if row["tied_with_best"] else ": significantly worse")),
                                   {"rule": "tied", "tied_with_best": bool(row["tied_with_best"])}))
    return out + _grid(grid, zeros_best)
