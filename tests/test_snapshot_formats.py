"""`liqtui snapshot` formats, outputs and exit statuses: goldens of a replayed cascade for text,
ansi, json, csv and svg; JSON Schema validation of every emitted object; --every records and a
clean stop on SIGTERM; atomic --output; NO_COLOR; live snapshots against loopback exchanges."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import csv
import dataclasses
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from aiohttp import web
from support.loopback import Loopback, send_json
from support.recordings import T0, envelope, force_order, mark_price, write_recording

from liqtui.cli import main
from liqtui.events import Liquidation, MarkPrice
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.grid import PriceGrid
from liqtui.model.risk import DISTANCES, NO_ESTIMATE, NO_PRICE, e_within
from liqtui.output.snapshot import (
    render_csv,
    render_json,
    render_text,
    rounded,
    schema_text,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("LIQTUI_UPDATE_GOLDEN"))
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
SCHEMA = json.loads(schema_text())


# -- a replayed cascade with open interest (so E is there, not only R) ---------------------------


def _rest(endpoint: str, msg: object, t: int) -> str:
    return json.dumps({"t": t, "ex": "binance", "rest": endpoint, "msg": msg}) + "\n"


def _line(msg: object, t: int) -> str:
    return json.dumps({"t": t, "ex": "binance", "msg": msg}) + "\n"


def _kline(symbol: str, start: int, price: float, buy: float, sell: float) -> dict[str, object]:
    vol = buy + sell
    k = {
        "t": start,
        "T": start + 59_999,
        "s": symbol,
        "i": "1m",
        "o": f"{price:.2f}",
        "c": f"{price:.2f}",
        "h": f"{price * 1.001:.2f}",
        "l": f"{price * 0.999:.2f}",
        "v": f"{vol:.3f}",
        "V": f"{buy:.3f}",
        "q": f"{vol * price:.2f}",
        "x": True,
    }
    return envelope({"e": "kline", "E": start + 60_000, "s": symbol, "k": k}, "kline_1m")


def cascade_with_oi_lines(seed: int = 11) -> list[str]:
    """90 minutes of BTC and ETH: open interest builds for an hour (longs and shorts open),
    then BTC falls 4 % in a long cascade; a depth poll and one bad line on the way."""
    rng = random.Random(seed)
    lines: list[str] = []
    markets = {"BTCUSDT": [97_000.0, 80_000.0], "ETHUSDT": [3_400.0, 900_000.0]}
    for minute in range(90):
        start = T0 + minute * 60_000
        falling = minute >= 60
        for symbol, state in markets.items():
            price, oi = state
            drift = -0.0014 if falling and symbol == "BTCUSDT" else rng.uniform(-0.0012, 0.0012)
            for second in range(0, 60, 15):
                t = start + second * 1000
                price *= 1 + drift / 4 + rng.uniform(-0.0002, 0.0002)
                lines.append(_line(envelope(mark_price(symbol, f"{price:.2f}", t)), t + 5))
            oi *= 1.004 if not falling else 0.992
            buy = rng.uniform(40, 60) * (0.6 if falling else 1.0)
            lines.append(
                _line(_kline(symbol, start, price, buy, rng.uniform(40, 60)), start + 60_010)
            )
            lines.append(
                _rest(
                    f"/fapi/v1/openInterest?symbol={symbol}",
                    {"symbol": symbol, "openInterest": f"{oi:.3f}", "time": start + 59_000},
                    start + 59_020,
                )
            )
            if falling and symbol == "BTCUSDT":
                for i in range(3):
                    t = start + 10_000 + i * 15_000
                    qty = f"{rng.choice([0.05, 0.3, 1.2, 4.0]):.3f}"
                    ap = f"{price * 0.999:.1f}"
                    lines.append(_line(force_order(symbol, "SELL", qty, ap, ap, t), t + 30))
            if minute % 20 == 7:
                lines.append(
                    _line(
                        force_order(
                            symbol,
                            "BUY",
                            "0.5",
                            f"{price * 1.002:.2f}",
                            f"{price * 1.002:.2f}",
                            start + 1,
                        ),
                        start + 40,
                    )
                )
            state[0], state[1] = price, oi
        if minute == 45:
            depth = {
                "lastUpdateId": 1,
                "E": start,
                "T": start,
                "bids": [["96000", "10"], ["95500", "20"]],
                "asks": [["96010", "8"], ["96500", "30"]],
            }
            lines.append(_rest("/fapi/v1/depth?symbol=BTCUSDT&limit=1000", depth, start + 3))
            lines.append("not json\n")
    return lines


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "cascade.jsonl.gz"
    return write_recording(path, cascade_with_oi_lines())


def snapshot_out(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["snapshot", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


REGENERATE = (
    "{} differs: a model or TUI change moves the goldens; review the difference, then "
    "regenerate them with LIQTUI_UPDATE_GOLDEN=1 pytest tests/test_snapshot_formats.py"
)


def check_golden(name: str, out: str) -> None:
    golden = GOLDEN / name
    if UPDATE or not golden.exists():  # first run writes it; review it, then it guards the output
        golden.write_text(out, encoding="utf-8", newline="")
    assert out == golden.read_text(encoding="utf-8"), REGENERATE.format(name)


def approx_equal(a: Any, b: Any, path: str = "$") -> None:
    """Deep equality with a relative tolerance on floats (numpy sums may differ in the last
    bits between builds; the layout and every other value must not)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            approx_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            approx_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=0.01), path
    else:
        assert a == b, path


def strict(schema: Any) -> Any:
    """The schema with additionalProperties: false on every object that lists properties, so
    the test also catches a field the output has but the schema does not describe."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


VALIDATOR = jsonschema.Draft202012Validator(strict(SCHEMA))


def validate_lines(text: str) -> list[dict[str, Any]]:
    docs = []
    for line in text.splitlines():
        doc = json.loads(line)
        VALIDATOR.validate(doc)
        docs.append(doc)
    return docs


# -- goldens ------------------------------------------------------------------------------------

FRAME = ["--width", "80", "--height", "24", "--window", "7d"]


def test_text_golden(replay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = snapshot_out(capsys, "--replay", str(replay), "--symbol", "BTC", *FRAME)
    assert status == 0 and err == ""
    assert "\x1b" not in out and all(len(ln) <= 80 for ln in out.splitlines())
    assert "E ▼" in out and "(relative)" in out  # the replay has open interest: E is drawn
    check_golden("replay_btc_80x24.txt", out)


def test_ansi_golden_is_the_text_layout_in_color(
    replay: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLORTERM", "truecolor")
    args = ["--replay", str(replay), "--symbol", "BTC", *FRAME]
    status, out, _ = snapshot_out(capsys, *args, "--format", "ansi", "--color", "always")
    assert status == 0 and "\x1b[" in out and "38;2;" in out  # 24-bit colors
    check_golden("replay_btc_80x24.ansi", out)
    _, text, _ = snapshot_out(capsys, *args)
    assert [ln.rstrip() for ln in ANSI_RE.sub("", out).splitlines()] == text.splitlines()
    monkeypatch.delenv("COLORTERM")
    _, out256, _ = snapshot_out(capsys, *args, "--format", "ansi", "--color", "always")
    assert "38;5;" in out256 and "38;2;" not in out256


def test_json_golden_validates_against_the_schema(
    replay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--replay", str(replay), "--symbol", "BTC", "--symbol", "ETH", *FRAME]
    status, out, _ = snapshot_out(capsys, *args, "--format", "json")
    assert status == 0
    docs = validate_lines(out)
    assert [d["symbol"] for d in docs] == ["BTC", "ETH"]
    btc = docs[0]
    assert btc["labels"].keys() == {"E", "R"} and btc["estimated"]["label"] == "E"
    assert btc["calibration"] == {"calibrated": False, "scale": None}
    assert btc["estimated"]["by_exchange"]["binance"]["long_usd"] > 0
    assert btc["realized"]["by_exchange"]["binance"]["long_usd"] > 0
    below = [b["long_usd_below"] for b in btc["risk"]["bands"]]
    assert below == sorted(below) and below[-1] > 0
    depth = btc["risk"]["book_depth"]["binance"]  # the replay's one depth poll
    assert depth["mid"] == 96005.0 and depth["distance_pct"] == [0.5, 1.0, 2.0, 5.0]
    assert docs[1]["risk"]["book_depth"] is None  # none for ETH
    assert btc["skipped_messages"] == 1
    assert sum(lv["price_row"] for lv in btc["levels"]) == 1
    golden = GOLDEN / "replay_btc_eth.jsonl"
    if UPDATE or not golden.exists():
        golden.write_text(out, encoding="utf-8")
    expected = [json.loads(ln) for ln in golden.read_text(encoding="utf-8").splitlines()]
    try:
        approx_equal(docs, expected)
    except AssertionError as exc:
        raise AssertionError(f"{REGENERATE.format(golden.name)} (at {exc})") from None


def test_csv_golden_has_one_row_per_level(replay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--replay", str(replay), "--symbol", "BTC", "--symbol", "ETH", *FRAME]
    status, out, _ = snapshot_out(capsys, *args, "--format", "csv")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0].startswith(
        "symbol,as_of,price_low,price_high,long_usd,short_usd,realized_long_usd,realized_short_usd"
    )
    _, js, _ = snapshot_out(capsys, *args, "--format", "json")
    docs = [json.loads(ln) for ln in js.splitlines()]
    levels = [(d["symbol"], lv) for d in docs for lv in d["levels"]]
    assert len(rows) == len(levels) == 2 * 20
    for row, (symbol, lv) in zip(rows, levels, strict=True):
        assert row["symbol"] == symbol
        assert float(row["price_low"]) == lv["price_low"]
        assert float(row["long_usd"]) == pytest.approx(lv["long_usd"], abs=0.006)
        assert float(row["realized_long_usd"]) == pytest.approx(lv["realized_long_usd"], abs=0.006)
        assert row["price_row"] == str(int(lv["price_row"]))
    golden = GOLDEN / "replay_btc_eth.csv"
    if UPDATE or not golden.exists():
        golden.write_text(out, encoding="utf-8")
    expected = list(csv.DictReader(io.StringIO(golden.read_text(encoding="utf-8"))))
    try:
        approx_equal(
            [{k: float(v) if k.endswith("usd") else v for k, v in r.items()} for r in rows],
            [{k: float(v) if k.endswith("usd") else v for k, v in r.items()} for r in expected],
        )
    except AssertionError as exc:
        raise AssertionError(f"{REGENERATE.format(golden.name)} (at {exc})") from None


def test_svg_golden_is_the_tui_screen(replay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    status, out, _ = snapshot_out(
        capsys, "--replay", str(replay), "--symbol", "BTC", *FRAME, "--format", "svg"
    )
    elapsed = time.perf_counter() - started
    assert status == 0 and out.startswith("<svg") and out.rstrip().endswith("</svg>")
    assert elapsed < 10  # ~0.3 s here; generous for slow CI machines
    check_golden("replay_btc_80x24.svg", out)


# -- colors -------------------------------------------------------------------------------------


def test_explicit_ansi_is_colored_only_the_automatic_format_follows_the_terminal(
    replay: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--replay", str(replay), "--symbol", "BTC", *FRAME]
    _, text, _ = snapshot_out(capsys, *args)  # no --format, captured (not a terminal): text
    assert "\x1b" not in text
    _, ansi, _ = snapshot_out(capsys, *args, "--format", "ansi")  # asked for: colored
    assert "\x1b[" in ansi
    assert [ln.rstrip() for ln in ANSI_RE.sub("", ansi).splitlines()] == text.splitlines()
    assert snapshot_out(capsys, *args, "--color", "always")[1] == ansi  # as ls --color=always
    assert snapshot_out(capsys, *args, "--format", "ansi", "--color", "never")[1] == text
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a terminal: automatic ansi
    assert snapshot_out(capsys, *args)[1] == ansi
    monkeypatch.setenv("NO_COLOR", "1")
    assert snapshot_out(capsys, *args)[1] == text  # NO_COLOR: the automatic choice is text
    assert snapshot_out(capsys, *args, "--format", "ansi")[1] == ansi  # the flag beats it


def test_explicit_ansi_into_a_redirected_file_is_colored(replay: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "NO_COLOR": "1"}
    base = [sys.executable, "-m", "liqtui", "snapshot", "--replay", str(replay), "--symbol", "BTC"]
    base += FRAME
    for extra, colored in ((["--format", "ansi"], True), ([], False)):
        out = tmp_path / "f.txt"
        with out.open("w", encoding="utf-8") as fh:  # `liqtui snapshot ... > f.txt`
            proc = subprocess.run(
                [*base, *extra], stdout=fh, stderr=subprocess.PIPE, text=True, env=env
            )
        assert proc.returncode == 0, proc.stderr
        assert ("\x1b[" in out.read_text(encoding="utf-8")) is colored


# -- exit statuses and arguments ------------------------------------------------------------------


def test_exit_status_0_and_1(replay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert snapshot_out(capsys, "--replay", str(replay), "--symbol", "BTC")[0] == 0
    status, out, err = snapshot_out(
        capsys, "--replay", str(replay), "--symbol", "DOGE", "--format", "json"
    )
    assert status == 1 and err.strip() == "liqtui: no data for DOGE"
    (doc,) = validate_lines(out)  # the document is still printed, empty
    assert doc["price"] is None and doc["levels"] == []
    status, out, err = snapshot_out(
        capsys, "--replay", str(replay), "--symbol", "BTC", "--symbol", "DOGE", "--format", "csv"
    )
    assert status == 1 and "nothing from market DOGE" in err
    assert {r["symbol"] for r in csv.DictReader(io.StringIO(out))} == {"BTC"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--replay", "r.jsonl", "--every", "1m"], "--every needs a live feed or --demo"),
        (["--demo", "--every", "50ms"], "is below the minimum 100ms"),
        (["--demo", "--every", "soon"], "is not a duration"),
        (["--demo", "--count", "3"], "--count goes with --every"),
        (["--demo", "--format", "svg", "--symbol", "BTC", "--symbol", "ETH"], "one market"),
        (["--demo", "--format", "svg", "--every", "1m"], "does not go with --format svg"),
        (["--demo", "--output", "/nonexistent/dir/x.json"], "no folder"),
        (["--demo", "--color", "sometimes"], "invalid choice"),
        (["--demo", "--format", "yaml"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_in_one_line(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with contextlib.suppress(SystemExit):  # argparse errors exit; our own checks return
        status = main(["snapshot", *args])
        assert status == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err


def test_schema_flag_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = snapshot_out(capsys, "--schema")
    assert status == 0 and json.loads(out) == SCHEMA
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    shipped = Path(__file__).parents[1] / "liqtui" / "schema" / "snapshot.schema.json"
    assert out == shipped.read_text(encoding="utf-8")


# -- --output ------------------------------------------------------------------------------------


def test_output_replaces_the_file_atomically(
    replay: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    renames: list[tuple[str, str]],
) -> None:
    target = tmp_path / "btc.json"
    target.write_text("old\n")
    target.chmod(0o644)
    args = ["--replay", str(replay), "--symbol", "BTC", "--format", "json"]
    status, out, _ = snapshot_out(capsys, *args, "--output", str(target))
    assert status == 0 and out == ""
    ((before, written),) = renames
    assert before == "old\n"  # the target was never written in place
    assert target.read_text() == written and validate_lines(written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["btc.json"]  # no temp file left
    assert target.stat().st_mode & 0o777 == 0o644


def test_every_appends_records_to_output(
    tmp_path: Path, demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "levels.csv"
    args = [
        "--demo",
        "--config",
        str(demo_config),
        "--symbol",
        "BTC",
        "--symbol",
        "ETH",
        "--format",
        "csv",
        "--every",
        "100ms",
        "--count",
        "2",
        "--output",
        str(log),
    ]
    assert main(["snapshot", *args]) == 0
    assert main(["snapshot", *args]) == 0
    assert capsys.readouterr().out == ""
    lines = log.read_text().splitlines()
    assert sum(ln.startswith("symbol,") for ln in lines) == 1  # header once, at the top
    rows = list(csv.DictReader(io.StringIO(log.read_text())))
    assert len(rows) == 4 * 2 * 36  # 4 records × 2 markets × 36 levels (height 40)


# -- --every --------------------------------------------------------------------------------------


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    """A short demo warm-up keeps --every tests quick."""
    config = tmp_path / "demo.toml"
    config.write_text('[demo]\nwarmup = "20m"\n')
    return config


def test_every_text_records_start_with_a_timestamp(
    demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = snapshot_out(
        capsys,
        "--demo",
        "--config",
        str(demo_config),
        "--symbol",
        "BTC",
        "--every",
        "100ms",
        "--count",
        "3",
        "--width",
        "70",
        "--height",
        "12",
    )
    assert status == 0 and err == ""
    records = re.split(r"^# ", out, flags=re.M)
    assert records[0] == "" and len(records) == 4
    for record in records[1:]:
        stamp, frame = record.split("\n", 1)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
        assert frame.startswith("BTC  ") and len(frame.splitlines()) == 12


def test_every_json_lines_stop_cleanly_on_sigterm(tmp_path: Path, demo_config: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env.pop("LIQTUI_CONFIG", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liqtui",
            "snapshot",
            "--demo",
            "--config",
            str(demo_config),
            "--symbol",
            "BTC",
            "--symbol",
            "ETH",
            "--format",
            "json",
            "--every",
            "100ms",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(8)]  # 4 records × 2 markets
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and err == ""
    text = "".join(lines) + rest
    assert text.endswith("\n")  # the last record is complete
    docs = validate_lines(text)
    assert len(docs) >= 8 and len(docs) % 2 == 0
    times = [d["as_of"] for d in docs[::2]]
    assert times == sorted(times) and times[-1] > times[0]


# -- live, against loopback exchange servers ----------------------------------------------------


@contextlib.contextmanager
def loopback_thread(setup: Callable[[Loopback], None]) -> Iterator[Loopback]:
    """A loopback exchange on its own event loop in a thread, so `main` can run asyncio.run."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        async def run() -> None:
            loop = Loopback()
            setup(loop)
            await loop.start()
            holder["loop"], holder["stop"] = loop, asyncio.Event()
            holder["aio"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"].wait()
            await loop.close()

        asyncio.run(run())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["loop"]
    finally:
        holder["aio"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


def binance_exchange(loop: Loopback) -> None:
    async def stream(ws: web.WebSocketResponse, request: web.Request, lb: Loopback) -> None:
        now = int(time.time() * 1000)
        await send_json(ws, envelope(mark_price(price="96005.5", t=now), "btcusdt@markPrice@1s"))
        await send_json(ws, envelope(force_order(t=now - 5)))
        while not ws.closed:  # a market that keeps ticking
            await asyncio.sleep(0.05)
            now = int(time.time() * 1000)
            await send_json(
                ws, envelope(mark_price(price="96010.0", t=now), "btcusdt@markPrice@1s")
            )

    now = int(time.time() * 1000)
    loop.ws("/market/stream", stream)
    loop.rest(
        "/fapi/v1/openInterest", {"symbol": "BTCUSDT", "openInterest": "81234.5", "time": now}
    )
    loop.rest(
        "/fapi/v1/depth",
        {
            "lastUpdateId": 1,
            "E": now,
            "T": now,
            "bids": [["96000", "10"]],
            "asks": [["96010", "8"]],
        },
    )


def live_config(tmp_path: Path, loop: Loopback, *, bybit_closed: bool = False) -> Path:
    text = (
        f'[exchanges.binance]\nws_url = "{loop.ws_base}/market"\nrest_url = "{loop.http}"\n'
        "[feeds]\n"  # the shipped reconnect timings: shorter ones are refused (exchange limits)
        'backfill = "0s"\n'  # this loopback serves no history endpoints (tests/test_preload.py)
    )
    if bybit_closed:
        import socket

        with socket.socket() as sock:  # a port nobody listens on: never a real host
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        text += (
            'exchanges = ["binance", "bybit"]\n[exchanges.bybit]\n'
            f'ws_url = "ws://127.0.0.1:{port}"\nrest_url = "http://127.0.0.1:{port}"\n'
        )
    else:
        text += 'exchanges = ["binance"]\n'
    path = tmp_path / "live.toml"
    path.write_text(text)
    return path


def test_live_snapshot_complete_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with loopback_thread(binance_exchange) as loop:
        config = live_config(tmp_path, loop)
        started = time.monotonic()
        status, out, err = snapshot_out(
            capsys, "--config", str(config), "--symbol", "BTC", "--format", "json", "--wait", "10"
        )
    assert status == 0, err
    assert time.monotonic() - started < 5  # it stops waiting once every feed has delivered
    (doc,) = validate_lines(out)
    assert doc["price"] in (96005.5, 96010.0) and doc["realized"]["count"] == 1
    assert [f["name"] for f in doc["feeds"]] == ["binance"]


def test_live_snapshot_partial_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with loopback_thread(binance_exchange) as loop:
        config = live_config(tmp_path, loop, bybit_closed=True)
        started = time.monotonic()
        status, out, err = snapshot_out(
            capsys, "--config", str(config), "--symbol", "BTC", "--wait", "20"
        )
    assert time.monotonic() - started < 8  # gives up on bybit, does not wait the 20 s
    assert status == 3
    assert out.startswith("BTC  96,0")
    gave_up, line = err.strip().splitlines()
    assert gave_up.startswith("liqtui: bybit: gave up after 3 failed attempts (")
    assert "Cannot connect to host 127.0.0.1" in gave_up
    assert line.startswith("liqtui: partial data: nothing from feed bybit")


def test_live_every_writes_n_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with loopback_thread(binance_exchange) as loop:
        config = live_config(tmp_path, loop)
        status, out, err = snapshot_out(
            capsys,
            "--config",
            str(config),
            "--symbol",
            "BTC",
            "--format",
            "json",
            "--every",
            "100ms",
            "--count",
            "3",
            "--wait",
            "10",
        )
    assert status == 0 and err == ""
    assert len(validate_lines(out)) == 3


# -- the cascade-risk figures ----------------------------------------------------------------------


def _snapshot(price: float | None, long_e: np.ndarray, short_e: np.ndarray, **kw: Any):  # type: ignore[no-untyped-def]
    grid = PriceGrid(origin=90.0, width=1.0, n_bins=long_e.size) if long_e.size else None
    zeros = np.zeros(long_e.size)
    return MarketSnapshot(
        "TEST", T0, price, "mark" if price else None, grid, long_e, short_e, zeros, zeros, 0.0,
        0.0, 0, 60_000, "high", "all", None, {}, {}, {}, {}, (FeedHealth("x"),), 0, **kw,
    )  # fmt: skip


def test_json_risk_bands_are_the_models_e_within() -> None:
    snap = _snapshot(100.0, np.ones(20), 2 * np.ones(20), price_time_ms=T0)
    doc = validate_lines(render_json(snap))[0]
    risk = doc["risk"]
    assert [b["distance_pct"] for b in risk["bands"]] == [d * 100 for d in DISTANCES]
    within = e_within(snap)
    assert within.long_usd is not None and within.short_usd is not None
    # 0.5 % of 100 is half of the bin 99–100 (0.4999999999999996 before rounding).
    assert [b["long_usd_below"] for b in risk["bands"]] == [0.5, 1.0, 2.0, 5.0]
    assert [b["long_usd_below"] for b in risk["bands"]] == [round(v, 2) for v in within.long_usd]
    assert [b["short_usd_above"] for b in risk["bands"]] == [1.0, 2.0, 4.0, 10.0]
    assert risk["reason"] is None and risk["book_depth"] is None


def test_json_without_data_or_open_interest_is_valid_with_null_reasons() -> None:
    empty = validate_lines(render_json(_snapshot(None, np.zeros(0), np.zeros(0))))[0]
    assert empty["price"] is None and empty["price_source"] is None
    assert empty["price_time"] is None and empty["price_age_ms"] is None
    assert empty["price_exchanges"] == [] and empty["price_stale"] is False
    assert all(b["long_usd_below"] is None for b in empty["risk"]["bands"])
    assert empty["risk"]["reason"] == NO_PRICE
    # Prints only: a price and a grid, but no estimated levels: null, not a reassuring 0.
    engine = Engine()
    engine.apply(Liquidation("bybit", "BTC", T0, "long", 95_000.0, 1.0, 95_000.0))
    engine.advance(T0)
    doc = validate_lines(render_json(engine.snapshot("BTC")))[0]
    assert doc["price"] == 95_000.0 and doc["risk"]["reason"] == NO_ESTIMATE
    assert all(b["short_usd_above"] is None for b in doc["risk"]["bands"])
    assert doc["estimated"]["long_usd"] == 0.0


def test_json_clusters_and_overview_follow_the_schema() -> None:
    """`clusters` are the model's nearest clusters (the overview's and the ladder header's),
    `overview` the overview row, or null when the writer has no engine; all valid."""
    from support.engines import demo_engine_and_history

    from liqtui.model.clusters import nearest_clusters
    from liqtui.model.overview import overview_row

    short_e = 2 * np.ones(20)
    short_e[15] = 40.0  # a wall at 105–106 above the price
    snap = _snapshot(100.0, np.ones(20), short_e, price_time_ms=T0)
    doc = validate_lines(render_json(snap))[0]
    clusters, model = doc["clusters"], nearest_clusters(snap)
    assert model.above is not None and model.below is None and doc["overview"] is None
    assert clusters["above"] == {
        "price": 105.5, "price_low": 105.0, "price_high": 106.0, "distance_pct": 5.5,
        "e_usd": 40.0, "peak_e_usd": 40.0, "levels": 1,
    }  # fmt: skip
    assert clusters["below"] is None and clusters["reason"] is None
    assert clusters["threshold_usd"] == round(model.threshold_usd or 0, 2)
    assert clusters["label"] == "E" and clusters["scale"] == "relative"
    empty = validate_lines(render_json(_snapshot(None, np.zeros(0), np.zeros(0))))[0]
    assert empty["clusters"]["reason"] == NO_PRICE and empty["clusters"]["above"] is None
    engine, _ = demo_engine_and_history()
    snap = engine.snapshot("BTC")
    row = overview_row(engine, snap)
    doc = validate_lines(render_json(snap, overview=row))[0]
    ov = doc["overview"]
    assert ov["realized_1h"] == {"long_usd": round(row.realized_1h[0], 2),
                                 "short_usd": round(row.realized_1h[1], 2)}  # fmt: skip
    assert ov["realized_24h"]["span_ms"] == 86_400_000
    assert ov["change_span_ms"] < 86_400_000 and ov["change_24h_pct"] is None  # 3 h of demo
    assert ov["r_x"]["distance_pct"] == 2.0 and ov["r_x"]["long_below"] > 0
    assert ov["health"] == "ok" and ov["feeds_live"] == ov["feeds_total"] == 1
    assert doc["clusters"]["below"]["distance_pct"] == round(
        row.clusters.below.distance_pct,
        4,  # type: ignore[union-attr]
    )


def test_json_and_csv_numbers_have_meaningful_precision() -> None:
    noisy = np.zeros(20)
    noisy[3] = 0.1 + 0.2  # 0.30000000000000004
    noisy[4] = 1e-17
    noisy[5] = -1e-17
    noisy[12] = 1234.5678
    snap = _snapshot(100.00000000000001, noisy, noisy, price_time_ms=T0)
    snap = dataclasses.replace(snap, realized_long_usd=489_092.72999999998, scale=None,
                               open_interest={"binance": 1234.5678901234})  # fmt: skip
    out = render_json(snap, rows=20)
    for noise in ("0.30000000000000004", "e-17", "-0.0", "00000000001", "99999999"):
        assert noise not in out, noise
    doc = validate_lines(out)[0]
    assert doc["price"] == 100.0 and doc["realized"]["long_usd"] == 489_092.73
    assert doc["open_interest"] == {"binance": 1234.5679}
    rows = {lv["price_low"]: lv for lv in doc["levels"]}
    assert rows[93.0]["long_usd"] == 0.3 and rows[94.0]["long_usd"] == 0.0
    assert rows[95.0]["long_usd"] == 0.0 and rows[102.0]["long_usd"] == 1234.57
    assert doc["estimated"]["long_usd"] == 1234.87
    text = render_csv(snap, rows=20)
    assert "0.30000000000000004" not in text and "e-17" not in text and "-0.00" not in text
    cells = {r["price_low"]: r for r in csv.DictReader(io.StringIO(text))}
    assert cells["93.0"]["long_usd"] == "0.30" and cells["102.0"]["long_usd"] == "1234.57"
    assert {r["price"] for r in cells.values()} == {"100.0"}
    # Not finite (a defect upstream): null in JSON, an empty CSV cell, never NaN or Infinity.
    assert rounded("long_usd", float("nan")) is None and rounded("price", float("inf")) is None


def test_a_market_priced_by_an_old_print_is_stale_in_json_and_text() -> None:
    """Issue 11 item 6: the price carries its own time and source, and looks stale."""
    engine = Engine()
    engine.apply(Liquidation("bybit", "BTC", T0, "long", 95_000.0, 1.0, 95_000.0))
    engine.apply(MarkPrice("binance", "ETH", T0 + 600_000, 3_400.0))  # data keeps coming
    engine.advance(T0 + 600_000)
    snap = engine.snapshot("BTC")
    doc = validate_lines(render_json(snap))[0]
    assert doc["price"] == 95_000.0 and doc["price_source"] == "liquidation"
    assert doc["price_exchanges"] == ["bybit"] and doc["price_time"] == T0
    assert doc["price_age_ms"] == 600_000 and doc["price_stale"] is True
    first = render_text(snap, width=80, height=10).splitlines()[0]
    assert first.startswith("BTC  95,000.0 STALE 10m00s (liquidation print bybit)")
    assert len(first) <= 80
    fresh = engine.snapshot("ETH")
    assert render_text(fresh, width=80).startswith("ETH  3,400.00 (mark binance 0s)")
    assert validate_lines(render_json(fresh))[0]["price_stale"] is False
