"""The table every study page opens with: what the source document found, and what we find.

One row per finding of the document: `source` (the claim, with the document's numbers),
`finding` (what this run measured), `verdict` (`holds`, `does not hold` or `not testable
here`) and `evidence` (the numbers and the rule that decided). Verdicts are never typed
in: each comes from a rule over the study's own comparison tables (`denselab.comparison`:
means, 95 % intervals, the corrected resampled t-test), so a re-run with other numbers
can turn a verdict around. The rule for a claim "A scores higher than B": it *holds* when
A's mean is higher and the paired test says the difference is real (p < 0.05, Holm-adjusted
over the comparisons of its table; one comparison for a pair); it *does not hold* otherwise, and the evidence then
says "no detectable difference" (or that B is significantly higher).

Owns: the row format (`Finding`, `COLUMNS`), the pairwise rule (`higher`) and the page
section; each study owns its findings.

Example:
    >>> f = Finding("A beats B", "A 0.9 vs B 0.8", HOLDS, "p = 0.01")
    >>> frame([f]).columns.tolist()
    ['source', 'finding', 'verdict', 'evidence']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from denselab.report.html import Section
from denselab.stats import ALPHA

HOLDS, FAILS, UNTESTABLE = "holds", "does not hold", "not testable here"
VERDICTS = (HOLDS, FAILS, UNTESTABLE)
COLUMNS = ("source", "finding", "verdict", "evidence")
HEADING = "What the document found / what we find"
RULE_NUMBERS = {"alpha": ALPHA, "ci_level": 0.95}  # the numbers RULE shows: a study puts them in its results
RULE = (f"Verdicts are computed from this run's numbers: a claim \"A scores higher than B\" holds when A's mean is "
        f"higher and the corrected resampled t-test of A against B on their paired splits gives p < {ALPHA}; "
        "otherwise it does not hold, and the evidence says \"no detectable difference\" or that B is "
        "significantly higher. Intervals are 95 % t-intervals over the members (splits × seeds).")


@dataclass(frozen=True)
class Finding:
    """One row of the findings table (see the module doc)."""

    source: str
    finding: str
    verdict: str
    evidence: str
    numbers: dict = field(default_factory=dict)  # what the rule read (table `findings_numbers`)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"finding verdict: got {self.verdict!r}; expected one of {VERDICTS}")


def frame(findings: list[Finding]) -> pd.DataFrame:
    """The findings as the `findings` table (columns `COLUMNS`)."""
    return pd.DataFrame([{k: getattr(f, k) for k in COLUMNS} for f in findings], columns=list(COLUMNS))


def numbers(findings: list[Finding]) -> pd.DataFrame:
    """What each verdict's rule read (row `row` of the findings table), so a test can re-apply the rule."""
    return pd.DataFrame([{"row": i, "verdict": f.verdict, **f.numbers} for i, f in enumerate(findings)])


def counts(table: pd.DataFrame) -> dict:
    """How many findings, and how many of each verdict (a study keeps them in its results: the page shows them)."""
    return {"findings": int(len(table)), **{v: int((table["verdict"] == v).sum()) for v in VERDICTS}}


def section(table: pd.DataFrame, note: str = "") -> Section:
    """The page's opening section: the findings table (`frame`), the rule, a count of each verdict."""
    n = counts(table)
    shown = ", ".join(f"{n[v]} {v}" for v in VERDICTS)
    return Section(HEADING, f"{n['findings']} findings of the source document: {shown}. {RULE}"
                   + (f" {note}" if note else ""), tables=["findings"])


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def interval(row, percent: bool = True) -> str:
    """`mean [low, high]` of a comparison-table row, as a percentage or plain."""
    if percent:
        return f"{pct(row['mean'])} [{pct(row['ci_low'])}, {pct(row['ci_high'])}]"
    return f"{row['mean']:.4g} [{row['ci_low']:.4g}, {row['ci_high']:.4g}]"


def higher(pair: pd.DataFrame, a: str, b: str, greater: bool = True, percent: bool = True) -> tuple:
    """(verdict, evidence, numbers) of the claim "`a` scores better than `b`" from a two-arm comparison table.

    `pair` holds the rows `a` and `b` (names) of a `comparison.table` built on the same splits;
    its `p_holm` is the paired corrected t-test of the worse arm against the better one.
    `greater`: whether a higher score is better (False for errors such as MSE).
    """
    rows = pair.set_index("name")
    ra, rb = rows.loc[a], rows.loc[b]
    p = rb["p_holm"] if math.isfinite(rb.get("p_holm", math.nan)) else ra["p_holm"]
    better = (ra["mean"] > rb["mean"]) == greater and ra["mean"] != rb["mean"]
    diff = ra["mean"] - rb["mean"]
    shown = f"{100 * diff:+.1f} points" if percent else f"{diff:+.4g}"
    text = f"{a}: {interval(ra, percent)}; {b}: {interval(rb, percent)}; difference {shown}, p = {p:.3g}"
    got = {"rule": "higher", "a": a, "b": b, "mean_a": ra["mean"], "mean_b": rb["mean"], "p": p,
           "greater_is_better": greater}
    if p is None or not math.isfinite(p) or p == 0.0:  # p exactly 0: the paired differences do not vary
        return UNTESTABLE, text + " (too few splits, or no spread across them, to test)", got
    if p < ALPHA:
        return (HOLDS, text, got) if better else (FAILS, text + f": {b} is significantly better", got)
    return FAILS, text + ": no detectable difference", got


def higher_holds(row: dict) -> str:
    """The verdict `higher` gives for its `numbers` (what the study tests re-apply)."""
    if row["p"] is None or not math.isfinite(row["p"]) or row["p"] == 0.0:
        return UNTESTABLE
    better = (row["mean_a"] > row["mean_b"]) == row["greater_is_better"] and row["mean_a"] != row["mean_b"]
    return HOLDS if row["p"] < ALPHA and better else FAILS


def problems(results: dict) -> list[str]:
    """What is wrong with a results.json's findings (empty when nothing): missing columns or rows,
    unknown verdicts, or a verdict its own numbers (`findings_numbers`) do not give under its rule.
    Every study's test asserts this is empty, as it does for `report.audit.missing_numbers`."""
    tables = results.get("tables", {})
    rows, checks = tables.get("findings") or [], tables.get("findings_numbers") or []
    out = [] if rows else ["tables.findings: missing or empty"]
    for i, row in enumerate(rows):
        if set(COLUMNS) - set(row):
            out.append(f"findings[{i}]: missing {sorted(set(COLUMNS) - set(row))}")
        elif row["verdict"] not in VERDICTS or not row["evidence"]:
            out.append(f"findings[{i}]: verdict {row['verdict']!r}, evidence {row['evidence']!r}")
    for check in checks:
        i, rule = check["row"], check.get("rule")
        if i >= len(rows) or rows[i]["verdict"] != check["verdict"]:
            out.append(f"findings_numbers row {i}: not the verdict of findings[{i}]")
            continue
        expected = _RULES[rule](check) if rule in _RULES else None
        if rule is not None and expected is None:
            out.append(f"findings_numbers row {i}: unknown rule {rule!r}")
        elif expected is not None and expected != check["verdict"]:
            out.append(f"findings[{i}]: verdict {check['verdict']!r}, but rule {rule!r} on its numbers gives "
                       f"{expected!r}")
    return out


def inside_holds(row: dict) -> str:
    """Rule `inside`: a published value lies within our 95 % interval."""
    return HOLDS if row["ci_low"] <= row["value"] <= row["ci_high"] else FAILS


_RULES = {"higher": lambda r: higher_holds(r), "inside": lambda r: inside_holds(r),
          # equals: what we observed is what the document says (a diagnosis, predicted classes)
          "equals": lambda r: HOLDS if r["observed"] == r["expected"] else FAILS,
          # above: a measured value passes the document's threshold
          "above": lambda r: HOLDS if r["value"] > r["threshold"] else FAILS,
          # apart: unpaired scores, A's interval wholly above B's
          "apart": lambda r: HOLDS if r["low_a"] > r["high_b"] else FAILS,
          # at_most: a measured value does not pass a bound (e.g. chance + a margin)
          "at_most": lambda r: HOLDS if r["value"] <= r["threshold"] else FAILS,
          # tied: not significantly worse than the best arm of its table (Holm)
          "tied": lambda r: HOLDS if r["tied_with_best"] else FAILS}


__all__ = ["Finding", "frame", "numbers", "counts", "section", "higher", "higher_holds", "inside_holds", "problems", "interval", "pct", "HOLDS", "FAILS", "UNTESTABLE",
           "COLUMNS", "HEADING", "RULE_NUMBERS"]
