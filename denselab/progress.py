"""Progress reporting: engines call progress(done, total); shells want a phase name too."""

from __future__ import annotations


def phase(progress, name: str):
    """Adapt a shell's progress(done, total, phase) callback to an engine's progress(done, total)."""
    if progress is None:
        return None
    return lambda done, total: progress(done, total, name)
