"""The one name-lookup rule every registry shares: lower-case, aliases, suggestion."""

from __future__ import annotations

from denselab.errors import unknown


def canonical(field: str, name, names, aliases: dict[str, str]) -> str:
    """Return the canonical spelling of `name`, or raise SpecError naming `field`."""
    if not isinstance(name, str):
        raise unknown(field, name, list(names) + list(aliases))
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = aliases.get(key, key)
    if key not in names:
        raise unknown(field, name, list(names) + list(aliases))
    return key
