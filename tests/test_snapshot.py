"""Replay → snapshot: golden text output, and JSON totals that match a hand count exactly."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from recordings import T0, envelope, force_order, line, mark_price, write_recording

from liqtui.cli import main

GOLDEN = Path(__file__).parent / "golden"


def cascade_lines(seed: int = 7) -> tuple[list[str], dict[str, Decimal]]:
    """A BTC long cascade with some short squeezes, ETH noise, duplicates and bad lines.

    Returns the recording lines and the hand count of unique BTC notional per side, in exact
    decimal arithmetic.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[tuple[int, str, str, str]] = set()
    hand = {"long": Decimal(0), "short": Decimal(0), "count": Decimal(0)}
    price = 97_000.0
    for i in range(120):
        t = T0 + i * 1_500
        price *= 1 - rng.uniform(-0.0004, 0.0012)  # mostly falling
        lines.append(line(mark_price(price=f"{price:.1f}", t=t), t))
        side = "SELL" if rng.random() < 0.8 else "BUY"
        qty = f"{rng.choice([0.002, 0.01, 0.05, 0.3, 1.2, 4.0]):.3f}"
        ap = f"{price * (1 - 0.001 if side == 'SELL' else 1.001):.1f}"
        msg = force_order("BTCUSDT", side, qty, ap, f"{float(ap) * 0.996:.1f}", t + 10)
        wrapped = envelope(msg) if i % 2 else msg
        lines.append(line(wrapped, t + 40))
        key = (t + 10, side, qty, ap)
        if key not in seen:
            seen.add(key)
            hand["long" if side == "SELL" else "short"] += Decimal(qty) * Decimal(ap)
            hand["count"] += 1
        if i % 17 == 0:  # a second collector wrote the same event again
            lines.append(line(msg, t + 41))
        if i % 9 == 0:
            eth = force_order("ETHUSDT", "BUY", "3.5", "3401.2", "3410.0", t + 20)
            lines.append(line(eth, t + 45))
        if i % 31 == 0:
            lines.append('{"t": 1738000000000, "ex": "binance", "msg": {"e": "forceOrder"}}\n')
            lines.append("garbage line\n")
    lines.append(line(force_order(t=T0 + 999_999), T0 + 200_000)[:50])  # crash-truncated tail
    return lines, hand


@pytest.fixture
def cascade(tmp_path: Path) -> tuple[Path, dict[str, Decimal]]:
    lines, hand = cascade_lines()
    return write_recording(tmp_path / "cascade.jsonl.gz", lines), hand


def test_json_realized_matches_hand_count(cascade, capsys) -> None:  # type: ignore[no-untyped-def]
    path, hand = cascade
    status = main(["snapshot", "--replay", str(path), "--symbol", "BTC", "--format", "json",
                   "--window", "30d"])  # fmt: skip
    assert status == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["symbol"] == "BTC"
    # Exactly the hand count to the cent (the JSON writes USD in cents).
    cent = Decimal("0.01")
    assert hand["long"].as_tuple().exponent == -4 and hand["long"] % cent != cent / 2
    assert doc["realized"]["long_usd"] == float(hand["long"].quantize(cent))
    assert doc["realized"]["short_usd"] == float(hand["short"].quantize(cent))
    assert doc["realized"]["count"] == hand["count"]
    assert doc["realized"]["duplicates_dropped"] == 8
    # 4 × (bad schema + garbage) + the truncated tail.
    assert doc["skipped_messages"] == 9
    assert doc["price_source"] == "mark"
    # The last line is the truncated one; before it, the duplicate written at t + 41.
    assert doc["as_of"] == T0 + 119 * 1_500 + 41
    levels = doc["levels"]
    assert levels and all(lv["price_low"] < lv["price_high"] for lv in levels)
    assert [lv["price_low"] for lv in levels] == sorted(
        (lv["price_low"] for lv in levels), reverse=True
    )
    assert set(levels[0]) == {"price_low", "price_high", "long_usd", "short_usd",
                              "realized_long_usd", "realized_short_usd", "price_row"}  # fmt: skip


def test_window_ends_at_last_replayed_message(cascade, capsys) -> None:  # type: ignore[no-untyped-def]
    path, hand = cascade
    main(["snapshot", "--replay", str(path), "--symbol", "BTCUSDT", "--format", "json",
          "--window", "1m"])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert doc["window_ms"] == 60_000
    assert 0 < doc["realized"]["count"] < hand["count"]


def test_symbol_spellings_are_one_market(cascade, capsys) -> None:  # type: ignore[no-untyped-def]
    path, _ = cascade
    outs = []
    for sym in ("BTC", "btcusdt", "BTC/USDT:USDT"):
        main(["snapshot", "--replay", str(path), "--symbol", sym, "--format", "json"])
        outs.append(json.loads(capsys.readouterr().out)["realized"])
    assert outs[0] == outs[1] == outs[2]


def test_text_snapshot_matches_golden(cascade, capsys) -> None:  # type: ignore[no-untyped-def]
    path, _ = cascade
    status = main(["snapshot", "--replay", str(path), "--symbol", "BTC", "--width", "80",
                   "--height", "24", "--window", "30d"])  # fmt: skip
    assert status == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert all(len(ln) <= 80 for ln in out.splitlines())
    golden = GOLDEN / "cascade_btc_80x24.txt"
    if not golden.exists():  # first run writes it; review it, then it guards the layout
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")


def test_demo_snapshot_is_deterministic(capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["snapshot", "--demo", "--seed", "3", "--symbol", "BTC", "--format", "json"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    doc = json.loads(first)
    assert doc["price"] > 0 and doc["estimated"]["long_usd"] > 0


def test_unknown_market_exits_1_with_empty_frame(cascade, capsys) -> None:  # type: ignore[no-untyped-def]
    path, _ = cascade
    assert main(["snapshot", "--replay", str(path), "--symbol", "DOGE"]) == 1
    captured = capsys.readouterr()
    assert "no data" in captured.out and "no data for DOGE" in captured.err
