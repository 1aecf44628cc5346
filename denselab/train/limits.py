"""Bounds checked before any training: how many members, and the memory their results will hold.

A typo such as `--set train.epochs=1.0e+9` or `evaluate.seeds: 100000` used to run until
XLA gave up with a `RESOURCE_EXHAUSTED` traceback (or the machine swapped). Both engines
call `check` with the members of one call before they compile anything, and the spec
refuses more than `MAX_MEMBERS` members outright (`spec.Experiment`), so the answer is one
line naming the fields to lower.

What grows with the run and is not split by the fleet's memory budget (which groups
members so the *program* fits) is what every member keeps once trained: its epoch
history (four curves of Python floats, plus the fleet's float32 record of five values
per epoch on the device and on the host) and its weights (float32, on device and host).

Example:
    >>> check(epochs=100, members=10, params=1_000, available=1 << 30)   # fits: returns None
    >>> estimate_bytes(epochs=100, members=10, params=1_000)
    248000
"""

from __future__ import annotations

import os
from pathlib import Path

from denselab.errors import SpecError

MAX_MEMBERS = 10_000  # folds × seeds of one run; more is a typo, never a small-data experiment
HISTORY_BYTES_PER_EPOCH = 4 * 32 + 2 * 5 * 4  # 4 lists of Python floats (8 B slot + 24 B float), 2 float32 records
WEIGHT_COPIES = 2  # device and host


def estimate_bytes(epochs: int, members: int, params: int, eval_rows: int = 0, outputs: int = 1) -> int:
    """Memory (bytes) that `members` trained for `epochs` keep: histories, weights, predictions."""
    history = epochs * HISTORY_BYTES_PER_EPOCH
    weights = WEIGHT_COPIES * 4 * params
    predictions = WEIGHT_COPIES * 4 * eval_rows * outputs
    return members * (history + weights + predictions)


def check(epochs: int, members: int, params: int, eval_rows: int = 0, outputs: int = 1,
          available: int | None = None) -> None:
    """Raise SpecError when the results of this engine call would not fit in half the free memory."""
    need = estimate_bytes(epochs, members, params, eval_rows, outputs)
    budget = (available if available is not None else available_bytes()) // 2
    if need <= budget:
        return
    history = members * epochs * HISTORY_BYTES_PER_EPOCH
    what = ("their epoch histories" if history >= need / 2 else "their weights")
    raise SpecError(f"train.epochs: {epochs} epochs × {members} members (folds × seeds, × trials of a search "
                    f"batch) of a {params}-weight network "
                    f"need about {_size(need)} for {what}, more than half the {_size(budget * 2)} of free "
                    "memory; lower train.epochs (train.patience stops early), evaluate.folds, evaluate.seeds "
                    "or the network's size")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def available_bytes() -> int:
    """Memory the machine can give now (psutil, else /proc/meminfo, else sysconf, else 4 GB)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30
