"""Check a report's promise: every number shown on the page is also in its results.json.

The page says so in its header, and readers copy numbers from the page into papers:
a number that exists only in the HTML cannot be traced or re-plotted. `missing_numbers`
reads the visible text of `report.html` (paragraphs, tables, captions, the manifest; not
the images, the style sheet or the page's own generation time) and returns the numbers
it cannot find in results.json at the precision shown: `0.853` matches 0.85347, `85.3%`
(and both ends of `85.3–91.0%`) matches 0.8534, `1.2e-05` matches 1.23e-05. Numbers written inside results.json's text
(a version string, the spec's YAML) count as present, since they are shown as text too.

Example:
    >>> missing_numbers("<p>accuracy 0.853 (85.3%) over 3 folds</p>", {"acc": 0.85347, "folds": 3})
    []
    >>> missing_numbers("<p>baseline 0.41</p>", {"acc": 0.85347})
    ['0.41']
"""

from __future__ import annotations

import bisect
import math
import re
from html.parser import HTMLParser

# A number standing on its own: not part of a name such as `f1`, `ci95_low` or `x0`,
# nor the tail of a version such as `3.6.0` (whose head `3.6` is checked instead).
_PERCENT = r"\s?(?:%|points?\b)"  # percentage points are percentages too
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w])"
                     rf"({_PERCENT}|(?=\s?[–-]\s?[\d.]+{_PERCENT}))?")
_SKIP_TAGS = {"style", "script", "title", "head"}


class _Text(HTMLParser):
    """The page's visible text, without <style>/<script> and without the generation-time line."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip, self._meta = [], 0, 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self._skip += 1
        if tag == "p" and ("class", "meta") in attrs:
            self._meta += 1  # "Report generated <timestamp>": when the page was written, not a result

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        if tag == "p" and self._meta:
            self._meta -= 1

    def handle_data(self, data):
        if not self._skip and not self._meta:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The visible text of a report page (what a reader can copy)."""
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def shown_numbers(text: str) -> list:
    """(as written, value, half a unit of the last digit shown, is a percentage) for every number in `text`."""
    out = []
    for match in _NUMBER.finditer(text):
        written, percent = match.group(1), match.group(2) is not None
        mantissa, _, exponent = written.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        scale = 10.0 ** (int(exponent) if exponent else 0)
        out.append((written + ("%" if percent else ""), float(written), 0.5 * 10.0 ** -decimals * scale, percent))
    return out


def result_values(results) -> list:
    """Sorted absolute values of every number in `results`, including numbers written in its strings."""
    values = []

    def walk(obj):
        if isinstance(obj, bool) or obj is None:
            return
        if isinstance(obj, (int, float)):
            if math.isfinite(obj):
                values.append(abs(float(obj)))
        elif isinstance(obj, str):
            values.extend(v for _, v, _, _ in shown_numbers(obj))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(k)
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    walk(results)
    return sorted(values)


def _present(values: list, target: float, tolerance: float) -> bool:
    # a relative epsilon: the float the page rounded may sit exactly on a half-unit boundary
    slack = tolerance * (1 + 1e-9) + 1e-12 * abs(target)
    i = bisect.bisect_left(values, target - slack)
    return i < len(values) and values[i] <= target + slack


def missing_numbers(html: str, results: dict) -> list:
    """The numbers shown on the page `html` that results.json (`results`) does not hold, as written.

    A percentage `p%` matches a stored fraction p/100 (or a stored p); signs are ignored
    (the page writes ranges such as `[-50, 50]` with hyphens).
    """
    values = result_values(results)
    missing = []
    for written, value, tolerance, percent in shown_numbers(page_text(html)):
        if _present(values, value, tolerance):
            continue
        if percent and _present(values, value / 100, tolerance / 100):
            continue
        missing.append(written)
    return missing
