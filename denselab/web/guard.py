"""What keeps `denselab serve` safe to leave running: checks on every request, at the door.

Any web page the user visits can send requests to loopback, so the server trusts
neither the `Host` nor the `Origin` a browser sends on another site's behalf:

- `Host` must name this server (loopback names, or the machine's own names and
  addresses when it binds every interface): a DNS-rebinding page reaches 127.0.0.1
  under its own name, and is refused here before it can read anything.
- A request that changes state (anything but GET/HEAD/OPTIONS) whose `Origin` is not
  this server itself (or whose `Sec-Fetch-Site` says cross-site) is refused (CSRF).
  Clients that send no `Origin` (curl, scripts) are not browsers acting for a page.
- The form is parsed strictly: a size cap, no `NaN`/`Infinity`, bounded nesting, so
  a hostile body gets a one-line 400 naming the problem instead of a 500.
- Messages leave without server paths (`scrub`).

All of it is a plain ASGI middleware and pure functions (no FastAPI specifics), so
tests can call them directly.
"""

from __future__ import annotations

import json
import re
import socket

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_DEPTH = 8  # the form is at most {hidden: [{...}]}: three levels


class BadForm(Exception):
    """A request body we will not parse; the message is the one-line answer."""


def host_names(bind: str) -> set[str]:
    """The host names a request may carry for a server bound to `bind` (lower case, no port)."""
    names = set(LOOPBACK)
    if bind in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower(), *local_addresses()}
    else:
        names.add(bind.lower())
    return names


def local_addresses() -> list[str]:
    """This machine's addresses (what a LAN client types), best effort and without network traffic."""
    found = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(info[4][0])
    except OSError:
        pass
    try:  # the address of the default route: connecting a UDP socket sends nothing
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1, never routed anywhere real
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(found)


def hostname(value: str) -> str:
    """`Host` header → lower-case name without the port (`[::1]:8000` → `::1`)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def refusal(method: str, headers: dict, allowed: set[str]) -> str | None:
    """Why this request is refused (a one-line message), or None. `headers`: lower-case names."""
    host = headers.get("host", "")
    if hostname(host) not in allowed:
        return ("host: this server only answers requests addressed to "
                f"{' or '.join(sorted(a for a in allowed if a in LOOPBACK)) or 'itself'} "
                "(another name pointing here is how DNS rebinding reaches a local server)")
    if method.upper() in SAFE_METHODS:
        return None
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return "origin: requests from other web sites are refused (cross-site request forgery)"
    origin = headers.get("origin")
    if origin is not None:
        scheme, _, netloc = origin.partition("://")
        if origin == "null" or scheme not in ("http", "https") or netloc.lower() != host.lower():
            return "origin: requests from other web sites are refused (cross-site request forgery)"
    return None


class Guard:
    """ASGI middleware: refuses (403, JSON one-liner) what `refusal` names, before any route runs."""

    def __init__(self, app, allowed: set[str]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        why = refusal(scope["method"], headers, self.allowed)
        if why is None:
            return await self.app(scope, receive, send)
        body = json.dumps({"error": why}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def parse_form(raw: bytes, limit: int) -> dict:
    """A JSON object from the page, strictly: size cap, finite numbers, bounded nesting."""
    if len(raw) > limit:
        raise BadForm(f"form: the request is larger than {limit // 1024} KB; the page sends far less")

    def no_constant(name):
        raise BadForm(f"form: `{name}` is not a number here; send finite numbers")

    try:
        text = raw.decode("utf-8")
        form = json.loads(text, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadForm("form: expected a JSON object") from None
    except RecursionError:
        raise BadForm(f"form: nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(form, dict):
        raise BadForm("form: expected a JSON object")
    if _depth(form) > MAX_DEPTH:
        raise BadForm(f"form: nested deeper than {MAX_DEPTH} levels")
    return form


def _depth(value, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level])
    return level


_PATH = re.compile(r"(?<![\w.])(?:/|[A-Za-z]:\\)[^\s`'\"()<>,;]*[/\\]([^\s`'\"()<>,;/\\]+)")


def scrub(message: str, known: dict | None = None) -> str:
    """`message` without server paths: known paths → their display names, other absolute paths → base names."""
    for path, name in (known or {}).items():
        message = message.replace(str(path), name)
    return _PATH.sub(lambda m: m.group(1), message)
