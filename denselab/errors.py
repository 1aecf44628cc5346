"""denselab's user-facing errors and the "did you mean" helper.

Every mistake a user can make in a spec, a data file or a command line becomes a
`DenselabError` whose message is one line: what was received, what was expected,
how to fix it. The CLI prints that line and exits 2; nothing deeper (JAX, pandas)
ever reaches the user as a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DenselabError(ValueError):
    """Base class: a user-facing, one-line error."""


class SpecError(DenselabError):
    """A spec field has an unknown name, a wrong type or an out-of-range value."""


class DataError(DenselabError):
    """A data file or array cannot be used as given."""


def suggest(name: str, valid: Iterable[str]) -> str:
    """Return ' (did you mean `x`?)' for the closest valid name, or ''."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown(field: str, name: object, valid: Iterable[str]) -> SpecError:
    """Build the error for a name that is not among `valid`."""
    valid = sorted(set(str(v) for v in valid))
    return SpecError(
        f"{field}: unknown value `{name}`{suggest(str(name), valid)}; "
        f"expected one of: {', '.join(valid)}"
    )
