"""A replay file with no recording line in it (empty, text garbage, bytes that are not gzip)
says so, in the CLI and in the TUI's status line, instead of "waiting for data" or a frame
"as of 1970" (issue 11, smaller item)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liqtui.feeds.replay import ReplaySource
from liqtui.model.engine import Engine
from liqtui.ui.app import LiqApp

REPO = Path(__file__).resolve().parent.parent
EXIT_UNAVAILABLE = 1

BAD_FILES = {
    "empty.jsonl": (b"", 0),
    "empty.jsonl.gz": (b"", 0),
    "text.jsonl": (b'hello\nworld\n{"not": "a recording line"}\n', 3),
    "binary.jsonl.gz": (bytes(range(256)) * 4, 0),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_snapshot_of_a_file_without_recording_lines_says_so(tmp_path: Path, name: str) -> None:
    content, bad_lines = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "NO_COLOR": "1"}
    env.pop("LIQTUI_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-m", "liqtui", "snapshot", "--replay", str(path), "--symbol", "BTC"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == EXIT_UNAVAILABLE, out.stderr
    assert out.stdout == ""  # no frame "as of 1970"
    (message,) = out.stderr.strip().splitlines()
    assert message.startswith(f"liqtui: error: {path}: no recognised liqtui recording lines (")
    skipped = bad_lines + (1 if name.startswith("binary") else 0)  # one unreadable stretch
    assert f"({skipped} line" in message


async def test_tui_status_line_says_the_replay_file_has_no_recording_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_text("garbage\n" * 5)
    app = LiqApp(Engine(), ReplaySource(path, speed=None), watchlist=["BTC"])
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        app.refresh_now()
        await pilot.pause()
        status = "\n".join(app.status.lines_text)
        assert f"{path}: no recognised liqtui recording lines (5 lines skipped)" in status
        assert "1970" not in status
