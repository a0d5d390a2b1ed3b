"""Binance parser, the recording format and replay: sides, notional, envelopes, bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from support.recordings import T0, envelope, force_order, line, mark_price, write_recording

from liqtui.events import Liquidation, MarkPrice
from liqtui.exchanges import binance
from liqtui.exchanges.spec import NotTracked, ParseError
from liqtui.feeds.recording import ReadStats, Recorder, read_recording
from liqtui.feeds.replay import RECORDING_FEED, ReplaySource
from liqtui.model.engine import Engine


def test_force_order_sell_is_a_long_liquidation_with_z_times_ap() -> None:
    (ev,) = binance.parse_message(force_order(side="SELL", qty="0.5", avg_price="96400.5"))  # type: ignore[misc]
    assert isinstance(ev, Liquidation)
    assert (ev.exchange, ev.symbol, ev.side, ev.time_ms) == ("binance", "BTC", "long", T0)
    assert ev.price == 96_400.5  # placed at ap, not the order price p
    assert ev.quantity == 0.5
    assert ev.notional_usd == pytest.approx(0.5 * 96_400.5)


def test_buy_is_a_short_liquidation_and_envelope_is_unwrapped() -> None:
    msg = envelope(force_order(symbol="1000PEPEUSDT", side="BUY", qty="1000", avg_price="0.0185"))
    (ev,) = binance.parse_message(msg)  # type: ignore[misc]
    assert isinstance(ev, Liquidation)
    assert (ev.symbol, ev.side) == ("1000PEPE", "short")


def test_filled_quantity_z_not_original_q() -> None:
    msg = force_order(qty="2.0")
    msg["o"]["z"] = "1.5"  # type: ignore[index]
    (ev,) = binance.parse_message(msg)  # type: ignore[misc]
    assert ev.quantity == 1.5  # type: ignore[union-attr]


def test_mark_price_with_funding() -> None:
    (ev,) = binance.parse_message(envelope(mark_price(price="97000.1"), "btcusdt@markPrice@1s"))  # type: ignore[misc]
    assert isinstance(ev, MarkPrice)
    assert ev.mark_price == 97_000.1 and ev.funding_rate == pytest.approx(0.0001)
    events = binance.parse_message([mark_price("ETHUSDT", "3400"), mark_price("ETHUSDC", "3400")])
    assert [e.symbol for e in events or []] == ["ETH"]  # USDC market: not tracked, dropped


def test_acks_and_other_streams_are_ignored_not_errors() -> None:
    assert binance.parse_message({"result": None, "id": 1}) is None
    assert binance.parse_message({"e": "aggTrade", "s": "BTCUSDT"}) is None
    with pytest.raises(NotTracked):
        binance.parse_message(force_order(symbol="BTCUSDC"))


def _broken(**changes: object) -> dict[str, object]:
    msg = force_order()
    msg["o"].update(changes)  # type: ignore[union-attr]
    return msg


@pytest.mark.parametrize(
    "msg",
    [
        _broken(ap="NaN"),
        _broken(ap="-1"),
        _broken(z="0"),
        _broken(z="abc"),
        _broken(ap=None),
        _broken(S="HOLD"),
        _broken(s="FOOBAR"),
        _broken(s=42),
        _broken(s=""),
        _broken(T="yesterday"),
        _broken(T=12),
        _broken(ap=True),
        {"e": "forceOrder", "o": "oops"},
        {"e": "forceOrder"},
        {"no": "type"},
        "pong",
        12,
        [force_order(), {"e": "forceOrder"}],
    ],
)
def test_schema_violations_raise_parse_error(msg: object) -> None:
    with pytest.raises(ParseError):
        binance.parse_message(msg)


def test_recording_round_trip_plain_and_gzip(tmp_path: Path) -> None:
    for name in ("rec.jsonl", "rec.jsonl.gz"):
        path = tmp_path / name
        with Recorder(path) as rec:
            rec.write("binance", force_order(), t=T0 + 5)
            rec.write_frame("okx", "pong", t=T0 + 6)
            rec.write(
                "binance",
                {"symbol": "BTCUSDT", "openInterest": "1.0"},
                t=T0 + 7,
                rest="openInterest",
            )
        lines = list(read_recording(path))
        assert [(ln.t, ln.ex, ln.rest) for ln in lines] == [
            (T0 + 5, "binance", None),
            (T0 + 6, "okx", None),
            (T0 + 7, "binance", "openInterest"),
        ]
        assert lines[0].msg == force_order() and lines[1].msg == "pong"


def test_gzip_recorder_survives_a_crash_before_close(tmp_path: Path) -> None:
    path = tmp_path / "crash.jsonl.gz"
    now = [0.0]
    rec = Recorder(path, clock=lambda: now[0])
    rec.write("binance", force_order(), t=T0)
    rec.write("binance", force_order(t=T0 + 1), t=T0 + 1)
    assert rec.lines == 2 and rec.lines_on_disk == 0  # within the flush interval: in memory
    now[0] = 1.0
    rec.write("binance", force_order(t=T0 + 2), t=T0 + 2)  # the interval is up: all three go
    assert rec.lines_on_disk == 3
    rec.write("binance", force_order(t=T0 + 3), t=T0 + 3)  # what a crash now would lose
    # No close(): every flushed line must still be readable.
    stats = ReadStats()
    assert len(list(read_recording(path, stats))) == 3
    assert stats.unfinished_members == 1 and stats.skipped == 0 and not stats.truncated_tail


def test_bad_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    good = [line(force_order(t=T0 + i), T0 + i) for i in range(3)]
    bad = [
        '{"t": 1738000000000, "ex": "binance", "msg": {"e": "forceO\n',  # truncated JSON
        "not json at all\n",
        '["a", "list"]\n',
        '{"t": "soon", "ex": "binance", "msg": {}}\n',
        '{"t": 1738000000000, "ex": 7, "msg": {}}\n',
        '{"t": 1738000000000, "ex": "binance"}\n',
        '{"t": NaN, "ex": "binance", "msg": {}}\n',
        "\xff\xfe garbage\n",
        "\n",  # blank lines are not messages
    ]
    path = write_recording(tmp_path / "bad.jsonl", good[:1] + bad + good[1:])
    stats = ReadStats()
    assert len(list(read_recording(path, stats))) == 3
    assert stats.bad_lines == 8 and not stats.truncated_tail


def test_truncated_last_line_is_a_normal_end(tmp_path: Path) -> None:
    text = line(force_order(), T0) + line(force_order(t=T0 + 1), T0 + 1)[:40]
    path = tmp_path / "cut.jsonl"
    path.write_text(text)
    stats = ReadStats()
    assert len(list(read_recording(path, stats))) == 1
    assert stats.truncated_tail and stats.bad_lines == 1


def test_replay_counts_skipped_messages_and_applies_the_rest(tmp_path: Path) -> None:
    lines = [
        line({"result": None, "id": 1}, T0),
        line(envelope(force_order(t=T0 + 1)), T0 + 2),
        line(_broken(ap="NaN"), T0 + 3),  # schema violation inside a good line
        "{broken json\n",
        line(force_order(symbol="ETHUSDC", t=T0 + 4), T0 + 5),  # real, but not tracked
        line(force_order(side="BUY", t=T0 + 6, avg_price="97000"), T0 + 7),
        line({"foo": 1}, T0 + 8, ex="kraken"),  # an exchange this version does not parse
    ]
    path = write_recording(tmp_path / "mixed.jsonl.gz", lines)
    engine = Engine()
    ReplaySource(path, speed=None).run_sync(engine)
    snap = engine.snapshot("BTC")
    assert snap.realized_count == 2
    assert snap.skipped_messages == 2  # the NaN price and the broken line
    assert snap.ignored_messages == 3  # the ack, the USDC market, the unknown exchange
    assert snap.as_of_ms == T0 + 8
    feeds = {f.name: f for f in snap.feeds}
    assert feeds["binance"].skipped == 1 and "not finite" in (feeds["binance"].last_error or "")
    assert feeds[RECORDING_FEED].skipped == 1
    assert all(f.state == "finished" for f in snap.feeds)


async def test_paced_replay_skips_long_gaps(tmp_path: Path) -> None:
    # Capture windows an hour apart replay in well under a second: the gap is cut to max_gap_s.
    # (The later window has two lines: a lone last line an hour ahead would be taken for a
    # broken clock, see test_clock.py.)
    hour = 3_600_000
    lines = [line(force_order(t=T0), T0), line(force_order(t=T0 + hour), T0 + hour),
             line(force_order(t=T0 + hour + 10), T0 + hour + 10)]  # fmt: skip
    path = write_recording(tmp_path / "gap.jsonl", lines)
    engine = Engine()
    source = ReplaySource(path, speed=1.0, max_gap_s=0.05)
    await source.run(engine)
    assert source.finished and engine.snapshot("BTC").realized_count == 3
    assert source.skipped_gap_ms > 3_500_000


def test_replay_rejects_bad_speed(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ReplaySource(tmp_path / "x.jsonl", speed=0)


def test_recorded_gz_file_is_really_gzip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    with Recorder(path) as rec:
        rec.write("binance", force_order(), t=T0)
    with gzip.open(path, "rt") as fh:
        assert json.loads(fh.readline())["ex"] == "binance"
