"""Builders for small, generated exchange messages and recordings used by the tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

T0 = 1_738_000_000_000  # 2025-01-27 17:46:40 UTC


def force_order(
    symbol: str = "BTCUSDT",
    side: str = "SELL",
    qty: str = "0.5",
    avg_price: str = "96400.5",
    order_price: str = "96000",
    t: int = T0,
) -> dict[str, object]:
    """A Binance USDⓈ-M forceOrder event, shaped like the exchange's own."""
    return {
        "e": "forceOrder",
        "E": t + 3,
        "o": {
            "s": symbol,
            "S": side,
            "o": "LIMIT",
            "f": "IOC",
            "q": qty,
            "p": order_price,
            "ap": avg_price,
            "X": "FILLED",
            "l": qty,
            "z": qty,
            "T": t,
        },
    }


def envelope(event: dict[str, object], stream: str = "!forceOrder@arr") -> dict[str, object]:
    return {"stream": stream, "data": event}


def mark_price(symbol: str = "BTCUSDT", price: str = "97000.1", t: int = T0) -> dict[str, object]:
    return {
        "e": "markPriceUpdate",
        "E": t,
        "s": symbol,
        "p": price,
        "i": price,
        "P": price,
        "r": "0.00010000",
        "T": t + 3_600_000,
    }


def line(msg: object, t: int, ex: str = "binance") -> str:
    return json.dumps({"t": t, "ex": ex, "msg": msg}) + "\n"


def write_recording(path: Path, lines: Iterable[str]) -> Path:
    text = "".join(lines)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
