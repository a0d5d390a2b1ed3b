"""Replay → snapshot: golden text output, and JSON totals that match a hand count exactly."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from support.recordings import T0, envelope, force_order, line, mark_price, write_recording

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
                              "realized_long_usd", "realized_short_usd", "price_row",
                              "by_tier"}  # fmt: skip
    # which leverage tiers make up each level: every tier, adding up to the level (cents)
    for lv in levels:
        tiers = lv["by_tier"]
        assert list(tiers) == ["2x", "5x", "10x", "25x", "50x", "100x"]
        for side in ("long_usd", "short_usd"):
            assert sum(t[side] for t in tiers.values()) == pytest.approx(lv[side], abs=0.05)
    weights = doc["estimated"]["tier_weights"]
    assert weights == {"2x": 0.0, "5x": 0.0, "10x": 0.3, "25x": 0.3, "50x": 0.25, "100x": 0.15}
    by_tier = doc["estimated"]["by_tier"]
    total = sum(t["long_usd"] for t in by_tier.values())
    assert total == pytest.approx(doc["estimated"]["long_usd"], abs=0.05)


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


def same_second_btc_longs(t: int) -> list[str]:
    """BTC longs liquidated on three exchanges in one second, each message in its exchange's
    own shape, with the price each exchange reports (generated; the figures follow a live
    capture of 2026-10-09: Binance fill 82,651.9, OKX bkPx 82,655.7, Bybit p 82,396.9)."""
    swap = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC",
            "ctType": "linear", "settleCcy": "USDT", "state": "live"}  # fmt: skip
    detail = {"bkLoss": "0", "bkPx": "82655.7", "ccy": "", "posSide": "long", "side": "sell",
              "sz": "3", "ts": str(t)}  # fmt: skip
    okx = {
        "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
        "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "details": [detail]}],
    }
    item = {"T": t + 300, "s": "BTCUSDT", "S": "Buy", "v": "0.006", "p": "82396.9"}
    bybit = {"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": t + 400, "data": [item]}
    binance = envelope(force_order("BTCUSDT", "SELL", "0.19", "82651.9", "82200", t + 900))
    instruments = {"t": t - 5_000, "ex": "okx", "msg": {"code": "0", "msg": "", "data": [swap]},
                   "rest": "/api/v5/public/instruments?instType=SWAP"}  # fmt: skip
    return [
        json.dumps(instruments) + "\n",
        line(okx, t + 50, ex="okx"),
        line(bybit, t + 450, ex="bybit"),
        line(binance, t + 950),
    ]


def test_prints_are_placed_at_the_price_each_exchange_reported(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """OKX's bkPx and Bybit's p are placed as reported (no maintenance-rate shift): the OKX
    print lands in Binance's row (0.005 % apart), and the JSON and CSV rows hold each print at
    the exchange's own price with notional quantity × that price."""
    path = write_recording(tmp_path / "second.jsonl", same_second_btc_longs(T0))
    args = ["snapshot", "--replay", str(path), "--symbol", "BTC", "--window", "30d"]
    assert main([*args, "--format", "json", "--height", "400"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_ex = doc["realized"]["by_exchange"]
    assert by_ex["okx"]["long_usd"] == round(3 * 0.01 * 82_655.7, 2)
    assert by_ex["bybit"]["long_usd"] == round(0.006 * 82_396.9, 2)
    assert by_ex["binance"]["long_usd"] == round(0.19 * 82_651.9, 2)

    def row_of(price: float) -> dict[str, object]:
        (row,) = [r for r in doc["levels"] if r["price_low"] <= price < r["price_high"]]
        return row

    okx_row = row_of(82_655.7)
    assert okx_row is row_of(82_651.9)  # the same row as Binance's fill
    assert okx_row["realized_long_usd"] == round(3 * 0.01 * 82_655.7 + 0.19 * 82_651.9, 2)
    assert row_of(82_396.9)["realized_long_usd"] == round(0.006 * 82_396.9, 2)
    assert main([*args, "--format", "csv", "--height", "400"]) == 0
    rows = capsys.readouterr().out.splitlines()
    header = rows[0].split(",")
    cells = [dict(zip(header, r.split(","), strict=True)) for r in rows[1:]]
    (csv_row,) = [c for c in cells if float(c["price_low"]) <= 82_655.7 < float(c["price_high"])]
    assert float(csv_row["realized_long_usd"]) == okx_row["realized_long_usd"]
