"""Explicit randomness: every seed of a run derives from its root seed and a name."""

from __future__ import annotations

import zlib

import numpy as np


def derive(root: int, *keys) -> int:
    """A 31-bit seed from `root` and any keys (ints or strings); same inputs, same seed."""
    words = [int(root) & 0xFFFFFFFF]
    for key in keys:
        words.append(key & 0xFFFFFFFF if isinstance(key, int) else zlib.crc32(str(key).encode()))
    return int(np.random.SeedSequence(words).generate_state(1)[0] & 0x7FFFFFFF)
