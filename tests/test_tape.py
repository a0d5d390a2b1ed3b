"""The liquidation tape: the model's read of the realized prints, the shared formats, the tape
view (Pilot) and `liqtui tape` (replay, JSON Lines, live against the loopback fake exchanges,
a closed pipe, bad arguments)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.fake_exchanges import Cascade, FakeExchanges
from support.recordings import T0
from support.tape_recording import SIZES_USD, tape_prints, write_tape_recording

from liqtui.events import Liquidation, MarkPrice
from liqtui.model.engine import Engine
from liqtui.model.tape import TapePrint, minute_total, recent_prints
from liqtui.output.tape import json_line, next_threshold, text_line, thresholds
from liqtui.ui.app import LiqApp

REPO = Path(__file__).resolve().parent.parent
MINUTE = 60_000


def _liq(ex: str, sym: str, t: int, side: str, usd: float, price: float = 100.0) -> Liquidation:
    return Liquidation(ex, sym, t, side, price, usd / price, usd)  # type: ignore[arg-type]


def tape_engine() -> Engine:
    """Prints on two markets and three exchanges, one arriving out of time order."""
    engine = Engine()
    engine.apply(MarkPrice("binance", "BTC", T0, 100.0))
    engine.apply(MarkPrice("binance", "ETH", T0, 100.0))
    engine.apply(_liq("binance", "BTC", T0 + 1_000, "long", 5_000))
    engine.apply(_liq("bybit", "ETH", T0 + 3_000, "short", 250_000))
    engine.apply(_liq("okx", "BTC", T0 + 2_000, "long", 40_000))  # late: older than the last
    engine.apply(_liq("binance", "ETH", T0 + 90_000, "short", 20_000))
    engine.apply(_liq("binance", "ETH", T0 + 90_000, "short", 20_000))  # a duplicate
    engine.advance(T0 + 100_000)
    return engine


# -- the model and the formats ------------------------------------------------------------------


def test_recent_prints_are_newest_first_across_markets_and_filtered() -> None:
    engine = tape_engine()
    prints = recent_prints(engine, limit=10)
    assert [(p.time_ms - T0, p.symbol, p.exchange) for p in prints] == [
        (90_000, "ETH", "binance"),
        (3_000, "ETH", "bybit"),
        (2_000, "BTC", "okx"),
        (1_000, "BTC", "binance"),
    ]  # the duplicate counted once, the late print in its time's place
    assert [p.time_ms - T0 for p in recent_prints(engine, limit=2)] == [90_000, 3_000]
    big = recent_prints(engine, limit=10, min_usd=30_000)
    assert [p.notional_usd for p in big] == [250_000, 40_000]
    assert [p.exchange for p in recent_prints(engine, limit=10, exchange="binance")] == [
        "binance",
        "binance",
    ]
    total = minute_total(engine)  # the clock is at +100 s: only the print at +90 s
    assert (total.count, total.short_usd, total.long_usd) == (1, 20_000, 0)
    assert minute_total(engine, exchange="okx").count == 0


def test_text_and_json_lines() -> None:
    p = TapePrint(T0, "binance", "BTC", "long", 96_400.5, 1_234_567.0)
    text = text_line(p, large_usd=1_000_000)
    assert text.startswith("2025-01-27T17:46:40.000Z binance")
    assert "▼ long" in text and "1,234,567 USD @ 96,400.5" in text and text.endswith(" LARGE")
    assert not text_line(p, large_usd=2_000_000).endswith("LARGE")
    doc = json.loads(json_line(p, large_usd=1_000_000))
    assert doc == {
        "time": "2025-01-27T17:46:40.000Z", "time_ms": T0, "exchange": "binance",
        "symbol": "BTC", "side": "long", "price": 96_400.5, "usd": 1_234_567.0, "large": True,
    }  # fmt: skip


def test_threshold_steps_include_the_configured_one_and_wrap() -> None:
    assert 25_000.0 in thresholds(25_000)
    steps, seen, t = thresholds(25_000), [], 0.0
    for _ in steps:
        t = next_threshold(t, 25_000)
        seen.append(t)
    assert seen[-1] == 0.0 and sorted(seen[:-1]) == list(steps[1:])


# -- the view -----------------------------------------------------------------------------------


async def test_tape_view_shows_prints_newest_first_and_steps_the_threshold() -> None:
    app = LiqApp(tape_engine(), None, watchlist=["BTC"], view="tape")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = app.tape.lines_text
        assert lines[0].startswith("Liquidation tape  every size")
        rows = [line for line in lines[2:] if line.strip()]
        assert [r.split()[0] for r in rows] == ["17:48:10", "17:46:43", "17:46:42", "17:46:41"]
        assert "▲ short" in rows[0] and "$20k" in rows[0]
        assert "◆" in rows[1] and "◆" not in rows[0]  # $250k ≥ the large size ($100k)
        await pilot.press("u")  # every size → $1k: all four still pass
        await pilot.press("u")  # → $10k: the $5k print goes
        await pilot.pause()
        assert app.tape.min_usd == 10_000
        assert "≥ $10k" in app.tape.lines_text[0]
        assert not any("17:46:41" in line for line in app.tape.lines_text)
        await pilot.press("e")  # the app's exchange filter: binance
        await pilot.pause()
        rows = [line for line in app.tape.lines_text[2:] if line.strip()]
        assert len(rows) == 1 and "binance" in rows[0] and "17:48:10" in rows[0]
        assert "u" in {b.binding.key for b in app.screen.active_bindings.values() if b.enabled}


async def test_tape_view_repaints_only_when_the_prints_change() -> None:
    engine = tape_engine()
    app = LiqApp(engine, None, watchlist=["BTC"], view="tape")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.refresh_now()
        assert app.tape.last_dirty_lines == 0  # nothing new: no row repainted
        engine.apply(_liq("okx", "ETH", T0 + 95_000, "long", 7_000))
        app.refresh_now()
        assert app.tape.last_dirty_lines > 0
        assert "17:48:15" in app.tape.lines_text[2]


# -- `liqtui tape` ------------------------------------------------------------------------------


def _tape(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "liqtui", "tape", *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60, **kw,  # type: ignore[call-overload]
    )  # fmt: skip


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tape_recording(tmp_path_factory.mktemp("tape") / "tape.jsonl.gz")


def test_cli_tape_replay_prints_every_print_in_order(recording: Path) -> None:
    out = _tape("--replay", str(recording))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    expected = tape_prints()
    assert len(lines) == len(expected)
    for line, (_t, symbol, side, _price, usd) in zip(lines, expected, strict=True):
        assert symbol.removesuffix("USDT") in line and side in line
        assert f"{usd:,.0f} USD" in line
        assert line.endswith(" LARGE") == (usd >= 100_000)


def test_cli_tape_jsonl_with_filters(recording: Path) -> None:
    out = _tape("--replay", str(recording), "--format", "jsonl", "--min-usd", "100000",
                "--exchange", "binance", "--large-usd", "1000000")  # fmt: skip
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    want = [p for p in tape_prints() if p[4] >= 100_000]
    assert len(docs) == len(want) > 0
    assert [d["time_ms"] for d in docs] == sorted(d["time_ms"] for d in docs)
    # (sizes as the exchange reports them: quantity × price, to the cent)
    assert {round(d["usd"], -1) for d in docs} == {s for s in SIZES_USD if s >= 100_000}
    assert all(d["large"] == (d["usd"] >= 1_000_000) for d in docs)
    assert _tape("--replay", str(recording), "--exchange", "okx").stdout == ""


@pytest.mark.parametrize(
    "args, words",
    [
        (["--min-usd", "-1"], "below the minimum"),
        (["--format", "csv"], "invalid choice"),
        (["--exchange", "nope", "--replay", "x.jsonl"], "unknown exchange"),
        (["--replay", "/no/such/file.jsonl"], "no such recording"),
        (["--replay", "x.jsonl", "--demo"], "not allowed with"),
        (["--replay", "x.jsonl", "--speed", "5"], "--speed goes with --demo"),
    ],
)
def test_cli_tape_bad_arguments_are_one_line_and_exit_2(args: list[str], words: str) -> None:
    out = _tape(*args)
    assert out.returncode == 2 and out.stdout == ""
    (message,) = out.stderr.strip().splitlines()
    assert words in message


def test_cli_tape_into_a_closed_pipe_is_quiet(recording: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = f"{sys.executable} -m liqtui tape --replay {recording} | head -n 3"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3 and proc.stderr == ""


async def test_cli_tape_live_streams_the_fake_exchanges_prints_until_sigterm(
    tmp_path: Path,
) -> None:
    cascade = Cascade(start_ms=MINUTE, duration_ms=MINUTE, move=0.04, direction=-1.0)
    async with FakeExchanges(
        ["BTC", "ETH"], 3, speed=30.0, history_ms=4 * MINUTE, warmup_ms=120 * MINUTE,
        cascades=[cascade],
    ) as fake:  # fmt: skip
        config = fake.write_config(tmp_path / "fake.toml")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqtui", "tape", "--config", str(config), "--symbol", "BTC",
            "--format", "jsonl", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert proc.stdout is not None
        docs = []
        try:
            while len(docs) < 5:
                line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
                assert line, "the tape ended before printing"
                docs.append(json.loads(line))
        finally:
            proc.send_signal(signal.SIGTERM)
            rest, err = await asyncio.wait_for(proc.communicate(), timeout=20)
        assert proc.returncode == 0, err.decode()
        docs += [json.loads(line) for line in rest.decode().splitlines()]
        sent = {
            (ex, liq.event.side, round(liq.event.time_ms / 1000))
            for ex in ("binance", "bybit", "okx")
            for liq in fake.delivered(ex, "BTC")
        }
    assert {d["symbol"] for d in docs} == {"BTC"}  # --symbol: ETH prints left out
    for d in docs:  # every line is a print the fake sent (the exchange, the side, the second)
        assert (d["exchange"], d["side"], round(d["time_ms"] / 1000)) in sent, d
    keys = [(d["exchange"], d["time_ms"], d["side"], d["usd"], d["price"]) for d in docs]
    assert len(keys) == len(set(keys))  # no print twice


async def test_cli_tape_live_stops_when_its_reader_goes_away(tmp_path: Path) -> None:
    """`liqtui tape | head` on the live path: the feeds' dispatcher swallows what a sink raises
    (a parser bug must not stop a feed), so the printer itself must stop the stream."""
    async with FakeExchanges(
        ["BTC"], 3, speed=30.0, history_ms=4 * MINUTE, warmup_ms=120 * MINUTE
    ) as fake:
        config = fake.write_config(tmp_path / "fake.toml")
        read_fd, write_fd = os.pipe()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqtui", "tape", "--config", str(config),
            stdout=write_fd, stderr=asyncio.subprocess.PIPE,
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        os.close(write_fd)
        reader = os.fdopen(read_fd, "rb")
        try:
            first = await asyncio.wait_for(asyncio.to_thread(reader.readline), timeout=30)
            assert first.strip(), "the tape ended before printing"
        finally:
            reader.close()  # like `head -n 1` exiting
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
        finally:
            if proc.returncode is None:
                proc.kill()
    assert proc.returncode == 0 and err == b"", err.decode()


@pytest.mark.parametrize("theme, no_color", [("liqtui-ansi", False), ("liqtui-dark", True)])
async def test_tape_reads_without_color(theme: str, no_color: bool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--color 16 (the ANSI theme) and none (NO_COLOR): the side is a mark and a word, a large
    print bold with ◆, never hue alone."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = LiqApp(tape_engine(), None, watchlist=["BTC"], view="tape", theme=theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        big = app.tape.render_line(3)  # the $250k short
        assert "▲ short" in big.text and "◆" in big.text
        assert any(seg.style is not None and seg.style.bold for seg in big if "short" in seg.text)
        small = app.tape.render_line(2)
        assert "▲ short" in small.text and "◆" not in small.text
        if no_color:
            assert all(seg.style is None or seg.style.color is None for seg in big)
        assert not app._ui_errors


async def test_the_palette_sets_the_tape_size_in_the_tape_view_only() -> None:
    from liqtui.ui.commands import palette_commands

    app = LiqApp(tape_engine(), None, watchlist=["BTC"], view="ladder")
    async with app.run_test(size=(80, 24)) as pilot:
        titles = {c.title for c in palette_commands(app, app.screen)}
        assert "Tape size: ≥ $50k" not in titles
        app.show_view("tape")
        await pilot.pause()
        titles = {c.title for c in palette_commands(app, app.screen)}
        assert "Tape size: ≥ $50k" in titles
        await app.run_action("set_tape_min('50000')")
        await pilot.pause()
        assert app.tape.min_usd == 50_000
        assert [p.notional_usd for p in app.tape.data.prints] == [250_000]  # type: ignore[union-attr]


def test_cli_tape_demo_streams_after_its_warm_up_and_stops_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "quick.toml"
    config.write_text('[demo]\nwarmup = "10m"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "liqtui", "tape", "--demo", "--speed", "1000", "--format",
         "jsonl", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err == ""
    assert first["exchange"] and first["usd"] > 0 and first["side"] in ("long", "short")
