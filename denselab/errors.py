"""denselab's user-facing errors and the "did you mean" helper.

Every mistake a user can make in a spec, a data file or a command line becomes a
`DenselabError` whose message is one line: what was received, what was expected,
how to fix it. The CLI prints that line and exits 2; nothing deeper (JAX, pandas)
ever reaches the user as a traceback. A message never shows the password of a URL
it quotes (`hide_passwords`), whoever wrote it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


# the characters str.splitlines breaks at, shown escaped so a message that quotes user input
# (a file name, a spec value) stays on one line and still shows what was there
_LINE_BREAKS = {c: repr(chr(c))[1:-1] for c in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)}


# scheme://user:PASSWORD@host: a password ends at `@` (one inside it must be %-encoded)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)([^\s/@]+)@")


def hide_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***` (the user name stays)."""
    return _URL_PASSWORD.sub(r"\1***@", text)


class DenselabError(ValueError):
    """Base class: a user-facing, one-line error."""

    def __init__(self, message: object = ""):
        super().__init__(hide_passwords(str(message).translate(_LINE_BREAKS)))


class SpecError(DenselabError):
    """A spec field has an unknown name, a wrong type or an out-of-range value."""


class DataError(DenselabError):
    """A data file or array cannot be used as given."""


def suggest(name: str, valid: Iterable[str]) -> str:
    """Return ' (did you mean `x`?)' for the closest valid name, or ''."""
    valid = [str(v) for v in valid]
    same_but_case = [v for v in valid if v.casefold() == str(name).casefold()]  # `Y` for `y`: difflib sees no likeness
    close = same_but_case or difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown(field: str, name: object, valid: Iterable[str]) -> SpecError:
    """Build the error for a name that is not among `valid`."""
    valid = sorted(set(str(v) for v in valid))
    return SpecError(
        f"{field}: unknown value `{name}`{suggest(str(name), valid)}; "
        f"expected one of: {', '.join(valid)}"
    )
