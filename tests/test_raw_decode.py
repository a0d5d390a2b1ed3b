"""The fast decoding paths (issue 14) give exactly what the old ones gave.

Replay reads a recording line's message as `RawJSON` (its text) and live frames reach the
parsers the same way; parsers decode typed where they can (order books), the rest decode in
full. Each property here runs the same input both ways, the old one (json.loads, the decoded
message) and the new one, and compares everything that comes out: the lines read and the
reader's counts, the events applied, and every field of the feed's health (counts and the
error text). The inputs mix valid messages with the awkward ones: numbers written every way
JSON and float() allow, NaN and Infinity, values beyond a float's range, negative zero,
duplicate keys, extra fields, deep nesting, non-ASCII text, escapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqtui.exchanges import make_parsers, spec
from liqtui.exchanges.spec import RawJSON, decoded
from liqtui.feeds.dispatch import deliver
from liqtui.feeds.recording import ReadStats, read_recording
from liqtui.feeds.replay import ReplaySource
from liqtui.feeds.stream import decode_frame, frame_message
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine

T0 = 1_767_225_600_000
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Level values: what exchanges send, and every form that float(), numpy or msgspec might read
# differently (an accepted value must give the very same float, a refused one the same error).
NUMBERS = st.one_of(
    st.floats(min_value=1e-9, max_value=1e7, allow_nan=False).map(lambda x: f"{x:.10g}"),
    st.floats(min_value=1e-9, max_value=1e7, allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=12).map(str),
    st.sampled_from(
        [
            "0",
            "-0",
            "-0.0",
            "1e400",
            "-1e400",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "Infinity",
            " 1.5",
            "1.5 ",
            "1_0",
            "+1",
            ".5",
            "5.",
            "0x1a",
            "",
            "abc",
            "1e-400",
            "9007199254740993",
            "18446744073709551617",
            "١٢٣",
        ]
    ),
    st.floats(min_value=1e-9, max_value=1e7, allow_nan=False),  # a JSON number
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([True, None, [], {}]),
)


def levels(width: int) -> st.SearchStrategy[list[list[Any]]]:
    good = st.tuples(
        st.floats(min_value=1.0, max_value=2e5).map(lambda x: f"{x:.3f}"),
        st.floats(min_value=0.001, max_value=50).map(lambda x: f"{x:.4f}"),
    ).map(lambda pq: [pq[0], pq[1], "0", "3"][:width])
    odd = st.lists(NUMBERS, min_size=width, max_size=width)
    ragged = st.lists(NUMBERS, min_size=0, max_size=width + 1)
    row = st.one_of(good, good, good, odd, ragged)
    return st.lists(row, min_size=0, max_size=12)


def extra() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(["x", "code", "msg", "result", "data", "T"]),
                           NUMBERS, max_size=1)  # fmt: skip


@st.composite
def binance_book(draw: st.DrawFn) -> tuple[str, str, Any]:
    msg: dict[str, Any] = {"lastUpdateId": 3, "E": T0, "T": draw(st.sampled_from([T0, "x"])),
                           "bids": draw(levels(2)), "asks": draw(levels(2))}  # fmt: skip
    for key in draw(st.lists(st.sampled_from(list(msg)), max_size=2)):
        msg.pop(key, None)
    msg.update(draw(extra()))
    return "binance", "/fapi/v1/depth?symbol=BTCUSDT&limit=1000", msg


@st.composite
def bybit_book(draw: st.DrawFn) -> tuple[str, str, Any]:
    result: dict[str, Any] = {"s": draw(st.sampled_from(["BTCUSDT", "ETHUSDT", "XUSDC", 5])),
                              "b": draw(levels(2)), "a": draw(levels(2)), "ts": T0, "u": 1,
                              "seq": 2, "cts": T0}  # fmt: skip
    for key in draw(st.lists(st.sampled_from(list(result)), max_size=2)):
        result.pop(key, None)
    result.update(draw(extra()))
    msg: dict[str, Any] = {"retCode": draw(st.sampled_from([0, 0, 0, 10001])), "retMsg": "OK",
                           "result": result, "retExtInfo": {}, "time": T0}  # fmt: skip
    msg.update(draw(extra()))
    return "bybit", "/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=500", msg


@st.composite
def okx_book(draw: st.DrawFn) -> tuple[str, str, Any]:
    book: dict[str, Any] = {"asks": draw(levels(4)), "bids": draw(levels(4)),
                            "ts": draw(st.sampled_from([str(T0), T0, "x"]))}  # fmt: skip
    book.update(draw(extra()))
    data = draw(st.sampled_from([[book], [book, book], [], "x"]))
    msg: dict[str, Any] = {"code": draw(st.sampled_from(["0", "0", "0", "51000"])), "msg": "",
                           "data": data}  # fmt: skip
    msg.update(draw(extra()))
    inst = draw(st.sampled_from(["BTC-USDT-SWAP", "BTC-USDT-SWAP", "DOGE-USDT-SWAP"]))
    return "okx", f"/api/v5/market/books?instId={inst}&sz=400", msg


OKX_INSTRUMENTS = {"code": "0", "msg": "", "data": [
    {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctType": "linear", "ctVal": "0.01",
     "ctValCcy": "BTC", "settleCcy": "USDT", "state": "live"}]}  # fmt: skip


def health_fields(health: FeedHealth) -> dict[str, object]:
    return {k: getattr(health, k) for k in health.__dataclass_fields__ if k != "rate_per_s"}


class Sink(Engine):
    """An engine that keeps every event it was handed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def apply(self, event: Any) -> bool:
        self.seen.append(event)
        return super().apply(event)


def run_both(items: list[tuple[str, str | None, Any, bytes]]) -> None:
    """Deliver each (exchange, rest, decoded message, its JSON text) the old way and the new
    way into fresh parsers and engines; assert both give the same."""
    sinks = []
    for raw in (False, True):
        parsers, sink = make_parsers(), Sink()
        parsers["okx"].rest("/api/v5/public/instruments?instType=SWAP", OKX_INSTRUMENTS)
        for exchange, rest, msg, text in items:
            deliver(RawJSON(text) if raw else msg, exchange=exchange, parser=parsers[exchange],
                    sink=sink, health=sink.feed(exchange), receive_ms=T0 + 1,
                    rest=rest)  # fmt: skip
        sinks.append(sink)
    old, new = sinks
    assert new.seen == old.seen
    assert {k: health_fields(v) for k, v in new.feeds.items()} == {
        k: health_fields(v) for k, v in old.feeds.items()
    }


@FUZZ
@given(st.lists(st.one_of(binance_book(), bybit_book(), okx_book()), min_size=1, max_size=20))
def test_typed_order_books_match_the_generic_parse(books: list[tuple[str, str, Any]]) -> None:
    items = []
    for exchange, rest, msg in books:
        text = json.dumps(msg).encode()
        items.append((exchange, rest, json.loads(text), text))  # the message as a reader sees it
    run_both(items)


def test_typed_order_books_take_the_fast_path() -> None:
    """A well-formed book does not fall back to the full decode (else the speed is lost)."""
    book = {"lastUpdateId": 3, "E": T0, "T": T0, "bids": [["100.5", "2"], ["100.0", "1"]],
            "asks": [["101.0", "1.5"], ["101.5", "3"]]}  # fmt: skip
    raw = RawJSON(json.dumps(book).encode())
    engine = Engine()
    deliver(raw, exchange="binance", parser=make_parsers()["binance"], sink=engine,
            health=engine.feed("binance"), receive_ms=T0 + 1,
            rest="/fapi/v1/depth?symbol=BTCUSDT&limit=1000")  # fmt: skip
    assert engine.events_applied == 1
    assert raw._value is spec._UNDECODED  # read typed, never decoded in full


# -- frames -------------------------------------------------------------------------------------
JSON_TEXT = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12,
).map(lambda v: json.dumps(v, ensure_ascii=False))  # fmt: skip
ODD_FRAMES = st.sampled_from([
    "pong", "", " ", "NaN", "[NaN]", '{"a":Infinity}', '{"a":-Infinity}', "[1e400]", '"\\ud800"',
    '{"a":1,"a":2}', "[" * 600 + "]" * 600, "[" * 2000 + "]" * 2000, '{"e":"forceOrder"}',
    '{"stream":"x","data":{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","ap":"1e400",'
    '"z":"1","T":1767225600000}}}', '{"topic":"allLiquidation.BTCUSDT","data":[{"T":'
    '1767225600000,"s":"BTCUSDT","S":"Buy","v":"-0","p":"100"}]}', '["币安人生"]', "\ufeff{}",
    '{"op":"ping","success":true}', "[1,]", "1 2",
])  # fmt: skip


def _force_order(draw: st.DrawFn) -> str:
    order = {
        "s": draw(st.sampled_from(["BTCUSDT", "ETHUSDC", "1000PEPEUSDT", 5])),
        "S": draw(st.sampled_from(["SELL", "BUY", "X"])),
        "ap": draw(NUMBERS),
        "z": draw(NUMBERS),
        "T": draw(st.sampled_from([T0, str(T0), T0 * 10, True, 1.5])),
    }
    return json.dumps({"stream": "!forceOrder@arr",
                       "data": {"e": "forceOrder", "E": T0, "o": order}})  # fmt: skip


def _bybit_liquidations(draw: st.DrawFn) -> str:
    items = [{"T": T0 + i, "s": draw(st.sampled_from(["BTCUSDT", "BTCPERP"])),
              "S": draw(st.sampled_from(["Buy", "Sell", "x"])), "v": draw(NUMBERS),
              "p": draw(NUMBERS)} for i in range(draw(st.integers(0, 4)))]  # fmt: skip
    return json.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": T0,
                       "data": items})  # fmt: skip


@st.composite
def frames(draw: st.DrawFn) -> tuple[str, str]:
    exchange = draw(st.sampled_from(["binance", "bybit", "okx", "hyperliquid"]))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        text = draw(JSON_TEXT)
    elif kind == 1:
        text = draw(ODD_FRAMES)
    else:
        text = _force_order(draw) if exchange == "binance" else _bybit_liquidations(draw)
    return exchange, text


@FUZZ
@given(st.lists(frames(), min_size=1, max_size=30))
def test_frames_match_json_loads(batch: list[tuple[str, str]]) -> None:
    """What a frame reaches the parser as (RawJSON or the decoded value) leads to the same
    events and the same health as decode_frame's value did."""
    sinks = []
    for new in (False, True):
        parsers, sink = make_parsers(), Sink()
        for exchange, text in batch:
            msg = frame_message(text) if new else decode_frame(text)
            if new and type(msg) is RawJSON:
                assert msg.value == decode_frame(text)
            deliver(msg, exchange=exchange, parser=parsers[exchange], sink=sink,
                    health=sink.feed(exchange), receive_ms=T0 + 1)  # fmt: skip
        sinks.append(sink)
    old, new_sink = sinks
    assert new_sink.seen == old.seen
    assert {k: health_fields(v) for k, v in new_sink.feeds.items()} == {
        k: health_fields(v) for k, v in old.feeds.items()
    }


# -- the recording reader -----------------------------------------------------------------------
LINES = st.one_of(
    st.builds(
        lambda t, ex, msg, rest: json.dumps(
            {"t": t, "ex": ex, "msg": json.loads(msg), **({"rest": rest} if rest else {})}
        ),
        st.sampled_from([T0, T0 + 5, 0, -1, True, 1.5e12, 5_000_000_000_000, "1"]),
        st.sampled_from(["binance", "okx", "", 3, "币"]),
        JSON_TEXT,
        st.sampled_from([None, "/fapi/v1/depth?symbol=BTCUSDT", "/x"]),
    ),
    st.builds(lambda msg: f'{{"t":{T0},"ex":"okx","msg":{msg}}}', ODD_FRAMES),
    st.sampled_from(
        [
            f'{{"t":{T0},"ex":"okx","msg":1,"ex":"bybit"}}',
            f'{{"t":{T0},"ex":"okx"}}',
            f'{{"t":{T0},"ex":"okx","msg":1,"rest":5}}',
            f'{{"t":{T0},"ex":"okx","msg":1,"rest":null}}',
            f'{{"t":{T0},"ex":"okx","msg":1,"\\u0072est":"/x"}}',
            f'{{"t":{T0}.0,"ex":"okx","msg":1}}',
            f'[{T0},"okx",1]',
            "garbage",
            f'{{"t":{T0},"ex":"okx","msg":{{"a":"\\"rest\\":\\"/x\\"}}"}}}}',
            f'  {{"t":{T0},"ex":"okx","msg":[1,2]}}  ',
            f'{{"t":{T0},"ex":"okx","msg":"\u00e9"}}',
        ]
    ),
)


@FUZZ
@given(st.lists(LINES, min_size=1, max_size=30), st.booleans())
def test_raw_reader_matches_the_json_reader(tmp_path_factory, lines: list[str],  # type: ignore[no-untyped-def]
                                            gz: bool) -> None:  # fmt: skip
    import gzip

    path: Path = tmp_path_factory.mktemp("rec") / ("r.jsonl.gz" if gz else "r.jsonl")
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    path.write_bytes(gzip.compress(data) if gz else data)
    old_stats, new_stats = ReadStats(), ReadStats()
    old = [(r.t, r.ex, r.rest, r.msg) for r in read_recording(path, old_stats)]
    new = [(r.t, r.ex, r.rest, decoded(r.msg)) for r in read_recording(path, new_stats, raw=True)]
    assert new == old
    assert repr(new) == repr(old)  # the same types too (1 and 1.0 are ==)
    assert new_stats == old_stats


def test_replay_of_a_mixed_recording_matches_the_json_path(tmp_path: Path) -> None:
    """A whole replay (backfill answers first, then the lines) is the same whichever way the
    lines are read."""
    from liqtui.feeds import replay

    lines = [
        {"t": T0, "ex": "okx", "rest": "/api/v5/public/instruments?instType=SWAP",
         "msg": OKX_INSTRUMENTS},
        {"t": T0 + 10, "ex": "binance", "msg": {"stream": "btcusdt@markPrice@1s", "data": {
            "e": "markPriceUpdate", "E": T0 + 5, "s": "BTCUSDT", "p": "100000", "r": "0.0001"}}},
        {"t": T0 + 20, "ex": "binance", "rest": "/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
         "msg": {"lastUpdateId": 1, "E": T0 + 15, "T": T0 + 15,
                 "bids": [["99990", "1"], ["99900", "2"]], "asks": [["100010", "1"]]}},
        {"t": T0 + 30, "ex": "binance", "rest": "/fapi/v1/klines?symbol=BTCUSDT&interval=1m"
         "&startTime=1767139200000&endTime=1767139319999&limit=1500",
         "msg": [[1767139200000, "99000", "99100", "98900", "99050", "10", 1767139259999,
                  "990000", 5, "6", "594000", "0"]]},
        {"t": T0 + 40, "ex": "okx", "rest": "/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400",
         "msg": {"code": "0", "msg": "", "data": [{"asks": [["100020", "5", "0", "1"]],
                 "bids": [["99980", "5", "0", "2"]], "ts": str(T0 + 35)}]}},
    ]  # fmt: skip
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
    ends = []
    for raw in (False, True):
        engine = Sink()
        original = replay.read_recording

        def read(
            path: Any, stats: Any = None, *, raw: bool = raw, rest: Any = None, read: Any = original
        ) -> Any:
            return read(path, stats, raw=raw, rest=rest)

        replay.read_recording = read  # type: ignore[assignment]
        try:
            source = ReplaySource(path, speed=None)
            source.run_sync(engine)
        finally:
            replay.read_recording = original
        ends.append((engine.seen, {k: health_fields(v) for k, v in engine.feeds.items()},
                     source.stats))  # fmt: skip
    assert ends[1] == ends[0]
    assert len(ends[0][0]) >= 4  # history, mark, two books
