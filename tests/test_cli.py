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


def test_live_snapshot_unreachable_exchanges_exit_1_in_one_line(
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
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liqtui: no data for BTC")
    assert "connect failed" in lines[0] and "Traceback" not in out.stderr


def test_console_script_is_installed(env: dict[str, str]) -> None:
    script = Path(sys.executable).parent / "liqtui"
    assert script.exists()
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == f"liqtui {__version__}"


# -- an unknown theme is a usage error, not a toast -----------------------------------------------


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int | None, str]:
    """Run liqtui with a pseudo-terminal as stdin/stdout (so it would start the TUI); the
    exit status (None: still running after 20 s, i.e. the app started) and stderr."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "liqtui", *args],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env={**env, "TERM": "xterm-256color"},
            text=True,
        )
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None, ""
        return proc.returncode, err
    finally:
        os.close(master)
        os.close(slave)


def _assert_unknown_theme(status: int | None, err: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("liqtui: error: theme 'nope' is not available; themes: ")
    assert "liqtui-dark" in lines[0] and "liqtui-colorblind" in lines[0]


def test_unknown_theme_flag_or_config_exits_2_before_the_tui(
    env: dict[str, str], tmp_path: Path
) -> None:
    env.pop("NO_COLOR")
    _assert_unknown_theme(*run_on_a_terminal(["--demo", "--theme", "nope"], env))
    config = tmp_path / "theme.toml"
    config.write_text('[general]\ntheme = "nope"\n')
    _assert_unknown_theme(*run_on_a_terminal(["--demo", "--config", str(config)], env))
    # with NO_COLOR the ANSI theme is drawn, but the configured one is still checked
    env["NO_COLOR"] = "1"
    _assert_unknown_theme(*run_on_a_terminal(["--demo", "--config", str(config)], env))


@pytest.mark.parametrize("fmt", ["svg", "ansi"])
def test_unknown_theme_in_snapshots_exits_2(env: dict[str, str], fmt: str) -> None:
    out = run(["--theme", "nope", "snapshot", "--demo", "--format", fmt], env)
    _assert_unknown_theme(out.returncode, out.stderr)
    assert out.stdout == ""
