"""Durations as written in settings ("90s", "15m", "24h"): a leaf, so the exchange specs (which
config itself asks for ids and endpoints) can read the feed settings' durations too."""

from __future__ import annotations

import math
import re

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(text: str) -> int:
    """'24h' → 86_400_000 ms. Units: ms, s, m, h, d, w. Rounds to whole milliseconds and never
    returns 0 (a duration that rounds to nothing is an error, not an instant)."""
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 24h or 30d")
    value = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is far too long")
    if value < 1:
        raise ValueError(f"{text!r} is shorter than 1ms")
    return round(value)


def format_duration(ms: int) -> str:
    """86_400_000 → '1d': the largest unit that divides it evenly."""
    for unit in ("d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"
