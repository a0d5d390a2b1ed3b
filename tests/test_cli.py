"""The command line as a user meets it: help, version, errors in one line, non-terminal stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from recordings import T0, force_order, line, mark_price, write_recording

from liqtui import __version__


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    e.pop("LIQTUI_CONFIG", None)
    e["NO_COLOR"] = "1"
    return e


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liqtui", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(
        tmp_path / "r.jsonl",
        [line(mark_price(t=T0), T0), line(force_order(t=T0 + 1), T0 + 2)],
    )


def test_help_and_version(env: dict[str, str]) -> None:
    out = run(["--help"], env)
    assert out.returncode == 0 and "--replay FILE" in out.stdout and "snapshot" in out.stdout
    assert "exit status" in out.stdout
    snap_help = run(["snapshot", "--help"], env)
    assert snap_help.returncode == 0 and "--format" in snap_help.stdout
    version = run(["--version"], env)
    assert version.returncode == 0 and version.stdout.strip() == f"liqtui {__version__}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--speed", "fast"], "speed 'fast' is not a number"),
        (["--symbol", "BTC/EUR"], "only USDT-margined"),
        (["--window", "forever"], "is not a duration"),
        (["snapshot", "--format", "xml", "--demo"], "invalid choice"),
        (["--demo", "--replay", "x.jsonl"], "not allowed with"),
        (["snapshot", "--height", "0", "--demo"], "must be positive"),
        (["--bogus"], "unrecognized arguments"),
        (["--replay", "/nonexistent/rec.jsonl"], "no such recording"),
    ],
)
def test_bad_arguments_one_line_exit_2(env: dict[str, str], args: list[str], expected: str) -> None:
    out = run(args, env)
    assert out.returncode == 2
    assert expected in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_bad_config_one_line_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\npreset = "yolo"\n')
    out = run(["snapshot", "--demo", "--config", str(bad)], env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"liqtui: error: {bad}: model.preset: 'yolo' is not one of high, balanced, observed-low"
    ]


def test_non_terminal_stdout_prints_a_text_snapshot(env: dict[str, str], recording: Path) -> None:
    out = run(["--replay", str(recording), "--symbol", "BTC"], env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("BTC  97,000.1 (mark)")
    assert "\x1b" not in out.stdout and out.stderr == ""


def test_live_snapshot_unreachable_exchanges_exit_1_with_one_line_per_exchange(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A closed loopback port for every exchange: never a real host in tests.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "closed.toml"
    config.write_text(
        "".join(
            f'[exchanges.{ex}]\nws_url = "ws://127.0.0.1:{port}"\n'
            f'rest_url = "http://127.0.0.1:{port}"\n'
            for ex in ("binance", "bybit", "okx", "hyperliquid")
        )
    )
    out = run(["snapshot", "--config", str(config), "--symbol", "BTC", "--wait", "1.5"], env)
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("BTC  price —")
    *exchanges, summary = out.stderr.strip().splitlines()
    assert [ln.split(":")[1].strip() for ln in exchanges] == [
        "binance",
        "bybit",
        "okx",
        "hyperliquid",
    ]
    assert all("gave up after" in ln and "Cannot connect to host" in ln for ln in exchanges)
    assert summary == "liqtui: no data for BTC" and "Traceback" not in out.stderr


def test_console_script_is_installed(env: dict[str, str]) -> None:
    script = Path(sys.executable).parent / "liqtui"
    assert script.exists()
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == f"liqtui {__version__}"
