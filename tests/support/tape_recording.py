"""A small generated recording for the tape and replay-control tests: two hours of Binance
marks (every 10 s) and forced orders (every 30 s, sizes cycling from $1k to $1M) on BTC and
ETH, so that seeking by a minute and by an hour lands inside it."""

from __future__ import annotations

from pathlib import Path

from support.recordings import T0, envelope, force_order, line, mark_price, write_recording

SPAN_MS = 2 * 3_600_000
MARK_EVERY_MS = 10_000
PRINT_EVERY_MS = 30_000
SIZES_USD = (1_000.0, 12_000.0, 60_000.0, 150_000.0, 1_200_000.0)
PRICES = {"BTCUSDT": 97_000.0, "ETHUSDT": 3_400.0}


def tape_prints() -> list[tuple[int, str, str, float, float]]:
    """(time, market, side, price, USD) of every print the recording holds, in time order."""
    out = []
    for k, t in enumerate(range(T0 + PRINT_EVERY_MS, T0 + SPAN_MS + 1, PRINT_EVERY_MS)):
        symbol = "BTCUSDT" if k % 2 == 0 else "ETHUSDT"
        price = PRICES[symbol] * (1 - 0.001 * (k % 7))
        usd = SIZES_USD[k % len(SIZES_USD)]
        side = "long" if k % 3 else "short"
        out.append((t, symbol, side, price, usd))
    return out


def write_tape_recording(path: Path) -> Path:
    lines = []
    prints = {t: rest for t, *rest in tape_prints()}
    for t in range(T0, T0 + SPAN_MS + 1, MARK_EVERY_MS):
        for symbol, p in PRICES.items():
            lines.append(line(envelope(mark_price(symbol, f"{p:.1f}", t), "!markPrice@arr"), t))
        if t in prints:
            symbol, side, price, usd = prints[t]
            qty = usd / price
            order = force_order(
                symbol, "SELL" if side == "long" else "BUY", f"{qty:.6f}", f"{price:.2f}",
                f"{price:.2f}", t - 5,
            )  # fmt: skip
            lines.append(line(envelope(order), t))
    return write_recording(path, lines)
