"""`liqtui record` killed with SIGKILL, restarted on the same .gz file, killed again: replay must
read every line that reached the disk (issue 11, item 19).

What reached the disk is worked out here without liqtui's reader: the file size is taken after
each kill, so each run's bytes are known, and each run's gzip members are decoded on their own
with zlib (a member cut off by the kill ends at the recorder's last sync flush)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sys
import zlib
from pathlib import Path

import pytest
from fake_exchanges import FakeExchanges

from liqtui.feeds.recording import ReadStats, read_recording

REPO = Path(__file__).resolve().parent.parent
MINUTE = 60_000


def lines_of_one_run(data: bytes) -> list[bytes]:
    """The complete lines in one run's bytes: its members one after the other, the last one
    possibly without its end."""
    out = b""
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data) + d.flush()
        data = d.unused_data if d.eof else b""
    return out.split(b"\n")[:-1]  # what follows the last newline was never finished


async def record_until_killed(config: Path, out: Path, after_s: float) -> int:
    """Start `liqtui record`, let it write for `after_s` seconds once the file has grown, kill
    it with SIGKILL; the file's size afterwards."""
    before = out.stat().st_size if out.exists() else 0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liqtui", "record", "--config", str(config), "--out", str(out),
        "BTC", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (out.exists() and out.stat().st_size > before):
            assert proc.returncode is None, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            assert loop.time() < deadline, "the recorder wrote nothing"
            await asyncio.sleep(0.05)
        await asyncio.sleep(after_s)
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return out.stat().st_size


async def test_record_crash_restart_crash_replays_everything_on_disk(tmp_path: Path) -> None:
    out = tmp_path / "crash.jsonl.gz"
    async with FakeExchanges(["BTC"], 5, speed=20.0, history_ms=5 * MINUTE) as fake:
        config = fake.write_config(tmp_path / "fake.toml")
        first = await record_until_killed(config, out, after_s=2.3)
        second = await record_until_killed(config, out, after_s=2.7)
    data = out.read_bytes()
    assert len(data) == second > first > 0
    on_disk = lines_of_one_run(data[:first]) + lines_of_one_run(data[first:])
    assert len(on_disk) > 100
    with pytest.raises((EOFError, OSError, zlib.error)):
        gzip.decompress(data)  # what made the whole file unreadable before

    stats = ReadStats()
    replayed = list(read_recording(out, stats))
    expected = [json.loads(raw) for raw in on_disk]
    got = [{"t": r.t, "ex": r.ex, "msg": r.msg, **({"rest": r.rest} if r.rest else {})}
           for r in replayed]  # fmt: skip
    assert got == expected  # every line that reached the disk, in order, once
    assert stats.bad_lines == 0 and stats.damaged == 0
    assert stats.unfinished_members == 2  # one per kill

    # The CLI replays it: no exit 70, nothing skipped.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liqtui", "snapshot", "--replay", str(out), "--symbol", "BTC",
        "--format", "json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()
    doc = json.loads(stdout)
    assert doc["skipped_messages"] == 0
    print(
        f"\nrun 1: {first} bytes, run 2: {second - first} bytes; lines on disk "
        f"{len(lines_of_one_run(data[:first]))} + {len(lines_of_one_run(data[first:]))} = "
        f"{len(on_disk)}; replayed {len(replayed)}; unfinished members {stats.unfinished_members}"
    )
