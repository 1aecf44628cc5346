"""Results in a notebook or a REPL: a short `repr`, `_repr_html_`, tables and figures.

Why: Jupyter shows an object through `_repr_html_` and a REPL through `repr`; a
dataclass's generated repr of a run printed 64 548 characters (every array it
holds). A result that mixes in `ReportView` says what it is in one line, shows its
headline numbers, tables and key figures inline in a notebook, and hands out its
tables as pandas DataFrames and its figures as matplotlib Figures, like
scikit-learn's `cv_results_` / pandas' `DataFrame` users expect. The tables and
figures are exactly those of its report page (`_compose` is the report's own
composer), so the notebook and `report.html` can never disagree.

`render` is the page fragment itself and takes plain inputs (headline lines, a
`{name: DataFrame}` and a `{name: Figure}`), so any result (a run, a search, a
study) can use it.

Example:
    >>> import pandas as pd
    >>> html = render("demo", ["accuracy 0.9"], {"scores": pd.DataFrame({"a": [0.5]})}, {})
    >>> html.startswith('<div class="denselab-result">')
    True
"""

from __future__ import annotations

import html as _html
import re

from denselab.errors import DenselabError, suggest

FIGURES_SHOWN = 3  # inline figures in `_repr_html_`; the rest are `result.figure(name)`
ROWS_SHOWN = 20  # rows of a table shown inline; `result.table(name)` has them all


def render(title: str, headline: list[str], tables: dict, figures: dict, *, shown_tables=None,
           shown_figures=None) -> str:
    """An HTML fragment: title, headline lines, the shown tables and figures (embedded PNG).

    Args:
        title: the heading, e.g. `denselab run · iris`.
        headline: lines of headline numbers, most important first.
        tables: `{name: DataFrame}`; `shown_tables` (default: all) appear in full up to
            `ROWS_SHOWN` rows, every other name is listed so the reader knows to ask.
        figures: `{name: Figure}`; `shown_figures` (default: the first `FIGURES_SHOWN`).
    """
    from denselab.report.html import figure_png, table_html

    shown_tables = list(tables) if shown_tables is None else [t for t in shown_tables if t in tables]
    shown_figures = list(figures)[:FIGURES_SHOWN] if shown_figures is None else [
        f for f in shown_figures if f in figures]
    esc = _html.escape
    parts = ['<div class="denselab-result">', f"<h3>{esc(title)}</h3>"]
    parts += [f"<p>{'<b>' if i == 0 else ''}{esc(line)}{'</b>' if i == 0 else ''}</p>"
              for i, line in enumerate(headline)]
    for name in shown_tables:
        frame = tables[name]
        more = (f"<p><i>first {ROWS_SHOWN} of {len(frame)} rows: <code>.table({name!r})</code> has all</i></p>"
                if len(frame) > ROWS_SHOWN else "")
        parts.append(f"<h4>{esc(name)}</h4>{table_html(frame.head(ROWS_SHOWN))}{more}")
    for name in shown_figures:
        parts.append(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{figure_png(figures[name])}"'
                     f' style="max-width:100%"><figcaption>{esc(name)}</figcaption></figure>')
    rest_t = [t for t in tables if t not in shown_tables]
    rest_f = [f for f in figures if f not in shown_figures]
    if rest_t or rest_f:
        parts.append("<p><small>also: "
                     + "; ".join(filter(None, [
                         "tables " + ", ".join(f"<code>{esc(t)}</code>" for t in rest_t) if rest_t else "",
                         "figures " + ", ".join(f"<code>{esc(f)}</code>" for f in rest_f) if rest_f else ""]))
                     + " (<code>.table(name)</code>, <code>.figure(name)</code>)</small></p>")
    parts.append("</div>")
    return "\n".join(parts)


def figure_names(sections) -> dict:
    """`{name: Figure}` from report `Section`s: the heading in snake case, `_1`, `_2` … when
    a section has several figures (`Confusion matrix (test rows)` → `confusion_matrix_test_rows`)."""
    out = {}
    for s in sections:
        slug = re.sub(r"[^0-9a-z]+", "_", s.heading.lower()).strip("_") or "figure"
        for i, fig in enumerate(s.figures):
            out[f"{slug}_{i + 1}" if len(s.figures) > 1 else slug] = fig
    return out


class ReportView:
    """Mixin for a result with a report: `tables()`, `table(name)`, `figures()`, `figure(name)`,
    a one-line `repr` and `_repr_html_`.

    A subclass defines `_compose()` → (report sections, `{name: DataFrame}`), `_title()`,
    `_headline()` (lines of numbers) and may set `_shown_tables` / `_shown_figures`. The
    report is composed once, on first use (figures take a second or two), and kept.
    Dataclasses that mix this in need `@dataclass(repr=False)`, or their generated repr wins.
    """

    _shown_tables: tuple | None = None
    _shown_figures: tuple | None = None

    def _compose(self) -> tuple[list, dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _title(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _headline(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _view(self) -> tuple[dict, dict]:
        cached = self.__dict__.get("_report_view")
        if cached is None:
            sections, frames = self._compose()
            cached = self.__dict__["_report_view"] = (dict(frames), figure_names(sections))
        return cached

    def tables(self) -> dict:
        """Every table of the report, `{name: pandas.DataFrame}` (the report's CSV names)."""
        return dict(self._view()[0])

    def table(self, name: str):
        """One table of the report as a pandas DataFrame (a copy: change it freely)."""
        return _pick(self._view()[0], name, "table").copy()

    def figures(self) -> dict:
        """Every figure of the report, `{name: matplotlib.figure.Figure}`."""
        return dict(self._view()[1])

    def figure(self, name: str):
        """One figure of the report as a matplotlib Figure (show it, or `savefig` it)."""
        return _pick(self._view()[1], name, "figure")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {' · '.join([self._title(), *self._headline()])}>"

    def _repr_html_(self) -> str:
        frames, figures = self._view()
        return render(self._title(), self._headline(), frames, figures,
                      shown_tables=self._shown_tables, shown_figures=self._shown_figures)


def _pick(items: dict, name: str, kind: str):
    if name not in items:
        raise DenselabError(f"{kind}: no {kind} `{name}`{suggest(name, items)}; "
                            f"this result has: {', '.join(items) or 'none'}")
    return items[name]
