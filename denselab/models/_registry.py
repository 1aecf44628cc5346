"""The one lookup rule every registry shares: names, aliases, dicts, suggestions.

A registry entry can be given three ways (DESIGN, "One resolver per registry"):

- a name, canonical or alias, any case, `-` or space for `_`: `"Leaky-ReLU"`;
- a dict `{"name": ..., <parameter>: value}`: `{"name": "elu", "alpha": 0.5}`;
- a callable (or a Keras object), passed through unchanged by the registry's `get`.

`resolve` turns the first two into the entry's *config*: the canonical name when
every parameter is at its default, else `{"name": canonical, <changed parameters>}`.
That config is plain data (YAML/JSON), and resolving it again gives it back, so a
spec round-trips through its config.
"""

from __future__ import annotations

from denselab.errors import SpecError, suggest, unknown


def canonical(field: str, name, names, aliases: dict[str, str]) -> str:
    """Return the canonical spelling of `name`, or raise SpecError naming `field`."""
    if not isinstance(name, str):
        raise unknown(field, name, list(names) + list(aliases))
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = aliases.get(key, key)
    if key not in names:
        raise unknown(field, name, list(names) + list(aliases))
    return key


def resolve(field: str, spec, names, aliases: dict[str, str], params: dict | None = None):
    """The config of a name or a `{"name": ..., **parameters}` dict (see module doc).

    params: canonical name → {parameter: default} for the entries that take
    parameters; a parameter absent there is refused with a suggestion.
    """
    if not isinstance(spec, dict):
        return canonical(field, spec, names, aliases)
    if "name" not in spec:
        raise SpecError(
            f"{field}: got the dict {spec!r} without a `name` key; "
            f"expected e.g. {{'name': '{next(iter(names))}'}}"
        )
    key = canonical(field, spec["name"], names, aliases)
    allowed = (params or {}).get(key, {})
    changed = {}
    for k, value in spec.items():
        if k == "name":
            continue
        if k not in allowed:
            takes = f"its parameters: {', '.join(allowed)}" if allowed else "it takes no parameters"
            raise SpecError(f"{field}: `{key}` has no parameter `{k}`{suggest(k, allowed)}; {takes}")
        changed[k] = _check_value(field, key, k, value, allowed[k])
    changed = {k: v for k, v in changed.items() if v != allowed[k]}
    return {"name": key, **changed} if changed else key


def split(config) -> tuple[str, dict]:
    """(name, parameters) of a resolved config."""
    if isinstance(config, dict):
        return config["name"], {k: v for k, v in config.items() if k != "name"}
    return config, {}


def _check_value(field: str, key: str, param: str, value, default):
    """Parameters are numbers or booleans of the default's kind (int accepted for float)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(default, float):
            value = float(value)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise SpecError(
            f"{field}: `{key}` parameter `{param}` got {value!r}; expected a "
            f"{type(default).__name__} like the default {default!r}"
        )
    return value
