"""Property-based tests for every exchange parser and the recording reader.

Each parser sees batches of 100 generated messages, as many batches as the hypothesis profile
has examples (tests/conftest.py): 2,000 messages per parser in the "fast" profile (the default,
CI), 50,000 in the "deep" one (`LIQTUI_FUZZ=deep`, docs/testing.md). Valid messages are mixed
with messages made invalid by one known mutation, plus arbitrary JSON.
Properties: no exception escapes `deliver`; the skipped count is exactly the number of invalid
messages; every valid liquidation is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqtui.exchanges import binance, bybit, hyperliquid, okx
from liqtui.exchanges.spec import NotTracked, ParseError
from liqtui.feeds.dispatch import deliver
from liqtui.feeds.recording import ReadStats, read_recording
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine

BATCH = 100
T0 = 1_767_225_600_000
# Examples, seeds and deadlines come from the profile (tests/conftest.py): "fast" is derandomized,
# so the regular run is reproducible and CI never flakes on a new seed.
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

prices = st.floats(min_value=0.0001, max_value=200_000, allow_nan=False, allow_infinity=False)
# Valid prints stay below the plausibility bound of 1e11 USD (price ≤ 2e5 × quantity ≤ 1e5).
quantities = st.floats(min_value=1e-6, max_value=1e5, allow_nan=False, allow_infinity=False)
bases = st.sampled_from(["BTC", "ETH", "SOL", "1000PEPE", "XRP", "币安人生"])
BAD_NUMBERS = ["NaN", "nan", "-1", "0", "abc", "", "1e999", None, [], {}, True]


def num(x: float) -> str:
    return f"{x:.8g}"


def mutate(msg: dict[str, Any], path: list[str | int], choice: int) -> dict[str, Any]:
    """Copy `msg` with the value at `path` replaced by a bad value or removed."""
    out = json.loads(json.dumps(msg))
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if choice == len(BAD_NUMBERS):
        del node[last]
    else:
        node[last] = BAD_NUMBERS[choice]
    return out


def run_batch(
    parser: Any, messages: list[tuple[Any, bool, str | None]], exchange: str
) -> tuple[FeedHealth, Engine]:
    """Deliver (message, is_valid, rest endpoint) items; returns the health and the engine."""
    engine = Engine()
    health = engine.feed(exchange)
    for msg, _, rest in messages:
        deliver(msg, exchange=exchange, parser=parser, sink=engine, health=health,
                receive_ms=T0 + 1, rest=rest)  # fmt: skip
    return health, engine


def assert_exact(health: FeedHealth, engine: Engine, messages: list[Any], liqs: int) -> None:
    invalid = sum(1 for _, ok, _ in messages if not ok)
    assert health.skipped == invalid, health.last_error
    assert health.messages == len(messages)
    kept = sum(engine.snapshot(s).realized_count for s in engine.markets)
    assert kept == liqs


# -- Binance --------------------------------------------------------------------------------------
@st.composite
def binance_force_order(draw: st.DrawFn, i: int = 0) -> dict[str, Any]:
    qty = num(draw(quantities))
    msg = {"e": "forceOrder", "E": T0, "o": {
        "s": draw(bases) + "USDT", "S": draw(st.sampled_from(["BUY", "SELL"])), "o": "LIMIT",
        "f": "IOC", "q": qty, "p": num(draw(prices)), "ap": num(draw(prices)), "X": "FILLED",
        "l": qty, "z": qty, "T": T0 + i}}  # fmt: skip
    return {"stream": "!forceOrder@arr", "data": msg} if draw(st.booleans()) else msg


BINANCE_REQUIRED = [["o", "ap"], ["o", "z"], ["o", "s"], ["o", "S"], ["o", "T"], ["o"]]


@st.composite
def binance_batch(draw: st.DrawFn) -> tuple[list[tuple[Any, bool, None]], int]:
    items: list[tuple[Any, bool, None]] = []
    liqs = 0
    for i in range(BATCH):
        msg = draw(binance_force_order(i))
        if draw(st.integers(0, 3)) == 0:  # a quarter are broken by one mutation
            body = msg.get("data", msg)
            path = draw(st.sampled_from(BINANCE_REQUIRED))
            choice = draw(st.integers(0, len(BAD_NUMBERS)))
            if path == ["o", "S"] or path == ["o", "s"]:
                choice = draw(st.sampled_from([0, 4, 5, 7, len(BAD_NUMBERS)]))
            if path == ["o", "T"]:
                choice = draw(st.sampled_from([0, 1, 4, 5, 7, 8, len(BAD_NUMBERS)]))
            if path == ["o"]:
                choice = draw(st.sampled_from([0, 7, 10, len(BAD_NUMBERS)]))
            broken = mutate(body, path, choice)
            items.append(
                ({"stream": "x", "data": broken} if "data" in msg else broken, False, None)
            )
        else:
            items.append((msg, True, None))
            liqs += 1
    return items, liqs


@FUZZ
@given(binance_batch())
def test_binance_parser_fuzz(batch: tuple[list[tuple[Any, bool, None]], int]) -> None:
    messages, liqs = batch
    health, engine = run_batch(binance.Parser(), messages, "binance")
    assert_exact(health, engine, messages, liqs)


# -- Bybit ----------------------------------------------------------------------------------------
@st.composite
def bybit_batch(draw: st.DrawFn) -> tuple[list[tuple[Any, bool, None]], int]:
    items: list[tuple[Any, bool, None]] = []
    liqs = 0
    for i in range(BATCH):
        n = draw(st.integers(1, 4))
        base = draw(bases)
        sides = st.sampled_from(["Buy", "Sell"])
        data = [
            {"T": T0 + i * 10 + k, "s": base + "USDT", "S": draw(sides),
             "v": num(draw(quantities)), "p": num(draw(prices))}
            for k in range(n)
        ]  # fmt: skip
        msg = {"topic": f"allLiquidation.{base}USDT", "type": "snapshot", "ts": T0, "data": data}
        if draw(st.integers(0, 3)) == 0:
            k = draw(st.integers(0, n - 1))
            key = draw(st.sampled_from(["v", "p", "S", "T"]))
            choice = draw(st.sampled_from([0, 1, 2, 4, 5, 7, len(BAD_NUMBERS)]))
            items.append((mutate(msg, ["data", k, key], choice), False, None))
            liqs += n - 1  # one bad item costs only itself: the rest of its batch is kept
        else:
            items.append((msg, True, None))
            liqs += n
    return items, liqs


@FUZZ
@given(bybit_batch())
def test_bybit_parser_fuzz(batch: tuple[list[tuple[Any, bool, None]], int]) -> None:
    messages, liqs = batch
    health, engine = run_batch(bybit.Parser(), messages, "bybit")
    assert_exact(health, engine, messages, liqs)


# -- OKX ------------------------------------------------------------------------------------------
OKX_BASES = ["BTC", "ETH", "SOL"]
OKX_CTVAL = {"BTC": "0.01", "ETH": "0.1", "SOL": "1"}
OKX_INSTRUMENTS = {"code": "0", "msg": "", "data": [
    {"instId": f"{b}-USDT-SWAP", "instType": "SWAP", "ctVal": v, "ctValCcy": b, "settleCcy": "USDT",
     "ctType": "linear", "state": "live"} for b, v in OKX_CTVAL.items()]}  # fmt: skip


@st.composite
def okx_batch(draw: st.DrawFn) -> tuple[list[tuple[Any, bool, str | None]], int]:
    items: list[tuple[Any, bool, str | None]] = [
        (OKX_INSTRUMENTS, True, "/api/v5/public/instruments?instType=SWAP")
    ]
    liqs = 0
    for i in range(BATCH - 1):
        n = draw(st.integers(1, 3))
        base = draw(st.sampled_from(OKX_BASES))
        details = [{"bkLoss": "0", "bkPx": num(draw(prices)), "ccy": "", "posSide": "net",
                    "side": draw(st.sampled_from(["buy", "sell"])),
                    "sz": str(draw(st.integers(1, 10_000))), "ts": str(T0 + i * 10 + k)}
                   for k in range(n)]  # fmt: skip
        msg = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
               "data": [{"details": details, "instFamily": f"{base}-USDT",
                         "instId": f"{base}-USDT-SWAP", "instType": "SWAP",
                         "uly": f"{base}-USDT"}]}  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            k = draw(st.integers(0, n - 1))
            key = draw(st.sampled_from(["sz", "bkPx", "side", "ts"]))
            choice = draw(st.sampled_from([0, 1, 2, 4, 5, 7, len(BAD_NUMBERS)]))
            items.append((mutate(msg, ["data", 0, "details", k, key], choice), False, None))
        else:
            items.append((msg, True, None))
            liqs += n
    return items, liqs


@FUZZ
@given(okx_batch())
def test_okx_parser_fuzz(batch: tuple[list[tuple[Any, bool, str | None]], int]) -> None:
    messages, liqs = batch
    health, engine = run_batch(okx.Parser(), messages, "okx")
    assert_exact(health, engine, messages, liqs)


# -- Hyperliquid (no liquidations: contexts must keep mark and open interest) --------------------
@st.composite
def hyperliquid_batch(draw: st.DrawFn) -> tuple[list[tuple[Any, bool, None]], int]:
    items: list[tuple[Any, bool, None]] = []
    for _ in range(BATCH):
        ctx = {"funding": "0.0000125", "openInterest": num(draw(quantities)),
               "markPx": num(draw(prices)), "oraclePx": "1", "prevDayPx": "1",
               "dayNtlVlm": "1", "premium": "0", "midPx": "1", "impactPxs": ["1", "1"]}  # fmt: skip
        msg = {"channel": "activeAssetCtx", "data": {"coin": draw(st.sampled_from(["BTC", "ETH"])),
                                                     "ctx": ctx}}  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            key = draw(st.sampled_from(["markPx", "openInterest"]))
            choice = draw(
                st.sampled_from([0, 2 if key == "markPx" else 1, 4, 5, 7, len(BAD_NUMBERS)])
            )
            items.append((mutate(msg, ["data", "ctx", key], choice), False, None))
        else:
            items.append((msg, True, None))
    return items, 0


@FUZZ
@given(hyperliquid_batch())
def test_hyperliquid_parser_fuzz(batch: tuple[list[tuple[Any, bool, None]], int]) -> None:
    messages, _ = batch
    health, engine = run_batch(hyperliquid.Parser(), messages, "hyperliquid")
    assert_exact(health, engine, messages, 0)
    valid = [m for m, ok, _ in messages if ok]
    if valid:
        last = valid[-1]["data"]
        model = engine.markets[last["coin"]]
        assert math.isclose(model.open_interest["hyperliquid"], float(last["ctx"]["openInterest"]))


# -- Arbitrary JSON: nothing but ParseError / NotTracked / None ever comes out ----------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "e",
                    "o",
                    "s",
                    "S",
                    "data",
                    "topic",
                    "arg",
                    "channel",
                    "stream",
                    "ap",
                    "z",
                    "T",
                    "details",
                    "ctx",
                    "coin",
                    "op",
                    "event",
                    "p",
                    "v",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)
PARSERS: dict[str, Callable[[], Any]] = {
    "binance": binance.Parser,
    "bybit": bybit.Parser,
    "okx": okx.Parser,
    "hyperliquid": hyperliquid.Parser,
}


@settings(max_examples=20 * settings.default.max_examples)  # one message each: cheap
@given(st.sampled_from(sorted(PARSERS)), json_values)
def test_arbitrary_json_never_escapes(exchange: str, msg: object) -> None:
    parser = PARSERS[exchange]()
    for call in (lambda: parser(msg), lambda: parser.rest("/x?symbol=BTCUSDT", msg)):
        try:
            result = call()
        except (ParseError, NotTracked):
            continue
        assert result is None or isinstance(result, list)


# -- Recording reader ---------------------------------------------------------------------------
@st.composite
def recording_lines(draw: st.DrawFn) -> tuple[list[str], int, int]:
    lines: list[str] = []
    good = bad = 0
    for i in range(BATCH):
        if draw(st.integers(0, 3)) == 0:
            lines.append(draw(st.sampled_from([
                '{"t": 1, "ex": "binance"',  # truncated
                "not json",
                "[1, 2]",
                '{"t": "x", "ex": "binance", "msg": {}}',
                '{"t": 1767225600000, "ex": "", "msg": {}}',
                '{"t": 1767225600000, "ex": "binance"}',
                '{"t": NaN, "ex": "binance", "msg": 1}',
                '{"t": 1767225600000, "ex": "okx", "msg": {}, "rest": 5}',
                "\x00\x01\x02",
            ])) + "\n")  # fmt: skip
            bad += 1
        else:
            msg = draw(json_values)
            lines.append(json.dumps({"t": T0 + i, "ex": "binance", "msg": msg}) + "\n")
            good += 1
    return lines, good, bad


@FUZZ
@given(recording_lines())
def test_recording_reader_fuzz(tmp_path_factory, batch: tuple[list[str], int, int]) -> None:  # type: ignore[no-untyped-def]
    lines, good, bad = batch
    path: Path = tmp_path_factory.mktemp("rec") / "r.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    stats = ReadStats()
    read = list(read_recording(path, stats))
    assert len(read) == good and stats.bad_lines == bad and stats.lines == good + bad
