"""The command line as a user meets it: help, version, errors in one line, non-terminal stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.recordings import T0, force_order, line, mark_price, write_recording

from liqtui import __version__
from liqtui.keys import VIEWS


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


HELP_CHOICES = {
    (): ["{high,balanced,observed-low,fitted}", "{" + ",".join(VIEWS) + "}",
         "{auto,truecolor,256,16,none}", "snapshot", "record", "calibrate",
         "convert-bars", "tape"],
    ("snapshot",): ["{high,balanced,observed-low,fitted}", "{text,ansi,json,csv,svg}",
                    "{auto,always,none,never}", "--every DURATION", "100ms to 1d"],
    ("record",): ["SYMBOL", "--out FILE", "--config FILE"],
    ("calibrate",): ["{high,balanced,observed-low,fitted}",
                     "{all,5x+,10x+,25x+,50x+,2x,5x,10x,25x,50x,100x}", "{text,json}",
                     "(partial Spearman)", "--fit-weights"],
    ("convert-bars",): ["--out FILE", "{percent,fraction}", "one synthetic print per bar"],
    ("tape",): ["{text,jsonl}", "--min-usd USD", "--exchange EX", "--replay FILE"],
}  # fmt: skip


def test_help_lists_every_choice_without_escapes_or_heavy_imports(env: dict[str, str]) -> None:
    """Every subcommand's --help works, lists every preset (fitted too) and choice, shows no
    argparse escape (%%), and imports neither ccxt, textual nor numpy (it stays quick)."""
    from liqtui.presets import FITTED, PRESETS, TIER_FILTERS

    assert HELP_CHOICES[()][0] == "{" + ",".join((*PRESETS, FITTED)) + "}"
    assert HELP_CHOICES[("calibrate",)][1] == "{" + ",".join(TIER_FILTERS) + "}"
    script = (
        "import sys\n"
        "from liqtui.cli import main\n"
        "try:\n"
        "    main([*sys.argv[1:], '--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = {m.split('.')[0] for m in sys.modules} & {'ccxt', 'textual', 'numpy'}\n"
        "print('heavy imports:', sorted(heavy))\n"
    )
    for command, expected in HELP_CHOICES.items():
        out = subprocess.run(
            [sys.executable, "-c", script, *command],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.rstrip().endswith("heavy imports: []"), (command, out.stdout[-300:])
        assert "%%" not in out.stdout, command
        for text in expected:
            assert text in out.stdout, (command, text)


COMMAND_MODULES = ["snapshot", "record", "calibrate", "tui"]


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_command_modules_import_no_textual_nor_ccxt(env: dict[str, str], command: str) -> None:
    """Loading a command imports neither Textual nor ccxt: the headless commands never need
    Textual, and the TUI runner imports it only when it starts the app (after setting up the
    terminal's colors, which Textual reads at import)."""
    script = (
        "import sys\n"
        f"import liqtui.commands.{command}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'ccxt'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", (command, out.stdout)


def test_headless_snapshot_formats_import_no_textual_nor_ccxt(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`liqtui snapshot` in text, json and csv runs without importing Textual or ccxt."""
    script = (
        "import sys\n"
        "from liqtui.cli import main\n"
        "for fmt in ('text', 'json', 'csv'):\n"
        "    argv = ['snapshot', '--demo', '--symbol', 'BTC', '--format', fmt]\n"
        "    assert main([*argv, '--output', sys.argv[1]]) == 0, fmt\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'ccxt'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "frame")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


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
        (["--speed", "fast"], "--speed: 'fast' is not a number (allowed: 0.01 to 100000, or max)"),
        (["--symbol", "BTC/EUR"], "only USDT-margined"),
        (["--window", "forever"], "is not a duration"),
        (["snapshot", "--format", "xml", "--demo"], "invalid choice"),
        (["--demo", "--replay", "x.jsonl"], "not allowed with"),
        (["snapshot", "--height", "0", "--demo"], "--height: '0' is below the minimum 5"),
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
        f"liqtui: error: {bad}: model.preset: 'yolo' is not one of high, balanced, observed-low, "
        "fitted"
    ]


def test_non_terminal_stdout_prints_a_text_snapshot(env: dict[str, str], recording: Path) -> None:
    out = run(["--replay", str(recording), "--symbol", "BTC"], env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("BTC  97,000.1 (mark binance 0s)")
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


# Every flag that takes a number or a duration, and the range it is checked against (the
# config's own range for the flags that set a setting).
RANGED_FLAGS = [
    ([], "--fps", "general.fps"),
    ([], "--speed", "replay.speed"),
    ([], "--window", "model.window"),
    ([], "--seed", "demo.seed"),
    (["snapshot"], "--speed", "replay.speed"),
    (["snapshot"], "--window", "model.window"),
    (["snapshot"], "--seed", "demo.seed"),
    (["snapshot"], "--width", "snapshot.width"),
    (["snapshot"], "--height", "snapshot.height"),
    (["snapshot"], "--wait", "snapshot.wait"),
    (["snapshot"], "--every", "snapshot.every"),
    (["snapshot"], "--count", "snapshot.count"),
    (["calibrate"], "--window", "calibrate.window"),
    (["calibrate"], "--warmup", "calibrate.warmup"),
    (["calibrate"], "--duration", "calibrate.duration"),
    (["calibrate"], "--seed", "demo.seed"),
]


def _bad_flag_values(key: str) -> list[str]:
    from liqtui.config import RANGES

    rng = RANGES[key]
    if rng.kind == "duration":
        return [f"{int(rng.lo) - 1}ms", f"{int(rng.hi) + 1}ms", "9" * 400 + "d", "0.1ms"]
    if rng.kind == "whole":
        return [str(int(rng.lo) - 1), str(int(rng.hi) + 1), "inf", "1.5"]
    below = rng.lo / 2 if rng.lo > 0 else -1.0
    return [repr(below), repr(rng.hi * 2), "nan", "inf", "-inf"]


@pytest.mark.parametrize(
    ("command", "flag", "key", "value"),
    [
        pytest.param(command, flag, key, value, id=f"{' '.join(command)} {flag}={value[:12]}")
        for command, flag, key in RANGED_FLAGS
        for value in _bad_flag_values(key)
    ],
)
def test_out_of_range_flag_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], command: list[str], flag: str, key: str, value: str
) -> None:
    from liqtui.cli import main
    from liqtui.config import RANGES

    with pytest.raises(SystemExit) as info:
        main([*command, "--demo", f"{flag}={value}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"error: argument {flag}: " in err and f"(allowed: {RANGES[key]})" in err
    assert "Traceback" not in err
    # --help says the same range.
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert str(RANGES[key]) in " ".join(capsys.readouterr().out.split())


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


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(["--speed", "max"], None), (["--speed", "5"], 5.0), (["--speed", " MAX "], None), ([], 3.0)],
)
def test_tui_replay_speed_reaches_the_source(
    tmp_path: Path,
    recording: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    expected: float | None,
) -> None:
    """`liqtui --replay FILE --speed max` replays as fast as possible in the TUI (None), a
    number is that multiple of real time, and no flag means the config's speed (here "3").
    parse_speed's None ("max") used to read as "no flag" and fell back to the config."""
    from liqtui.cli import build_parser
    from liqtui.commands.tui import main as run_tui
    from liqtui.config import load_settings
    from liqtui.ui.app import LiqApp

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LIQTUI_CONFIG", raising=False)
    config = tmp_path / "c.toml"
    config.write_text('[replay]\nspeed = "3"\n')
    args = build_parser().parse_args(["--replay", str(recording), "--config", str(config), *flags])
    speeds: list[float | None] = []

    def run(app: LiqApp, **_: object) -> None:  # the TUI as built, without a terminal
        speeds.append(app.source.speed)  # type: ignore[union-attr]

    monkeypatch.setattr(LiqApp, "run", run)
    assert run_tui(load_settings(config), args) == 0
    assert speeds == [expected]


@pytest.mark.parametrize(
    ("flags", "expected"), [([], 2.0), (["--speed", "10"], 10.0), (["--speed", "max"], 1000.0)]
)
def test_demo_speed_comes_from_the_flag_or_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: float
) -> None:
    """`liqtui --demo --speed N` runs the simulator at N× (it used to ignore the flag)."""
    from liqtui.cli import build_parser
    from liqtui.commands.tui import main as run_tui
    from liqtui.config import load_settings
    from liqtui.ui.app import LiqApp

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LIQTUI_CONFIG", raising=False)
    config = tmp_path / "c.toml"
    config.write_text('[demo]\nspeed = 2.0\nwarmup = "1m"\n')
    args = build_parser().parse_args(["--demo", "--config", str(config), *flags])
    speeds: list[float] = []

    def run(app: LiqApp, **_: object) -> None:  # the TUI as built, without a terminal
        speeds.append(app.source.speed)  # type: ignore[union-attr]

    monkeypatch.setattr(LiqApp, "run", run)
    assert run_tui(load_settings(config), args) == 0
    assert speeds == [expected]


def test_demo_speed_out_of_the_demo_range_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from liqtui.cli import main

    assert main(["--demo", "--speed", "5000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--speed with --demo" in err and "0.1 to 1000" in err
