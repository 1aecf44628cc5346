"""Progress reporting: engines call progress(done, total); shells want a phase name too.

Engines also `publish` the latest epoch's mean loss and metric over the members they
are training; a shell's bar reads them with `latest()` when it redraws. A side channel
rather than a third progress argument, because every layer between an engine and a
shell (plan, evaluation, search) passes progress(done, total) through as it is.
"""

from __future__ import annotations

_LATEST: dict = {}


def phase(progress, name: str):
    """Adapt a shell's progress(done, total, phase) callback to an engine's progress(done, total)."""
    if progress is None:
        return None
    return lambda done, total: progress(done, total, name)


def publish(logs: dict) -> None:
    """Engines: the latest epoch's mean `loss`, metric, `val_loss`… over the running members."""
    _LATEST.clear()
    _LATEST.update({k: float(v) for k, v in logs.items() if v == v})  # NaN (no validation rows) left out


def latest() -> dict:
    """Shells: what an engine published last (empty before the first epoch)."""
    return dict(_LATEST)


def describe(logs: dict) -> str:
    """`loss 0.412 · accuracy 0.861 · val_accuracy 0.85` for a bar."""
    return " · ".join(f"{k} {v:.4g}" for k, v in logs.items())
