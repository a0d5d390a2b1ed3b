"""The recording's writer and reader at the byte level (issue 11, items 19 and 20): a crash at
any byte followed by a restart, the member and flush layout, a partial write on a full disk, a
plain file restarted after a cut line, bytes between members that are not gzip, and
`snapshot --every --record` on a full disk."""

from __future__ import annotations

import asyncio
import errno
import gzip
import json
import os
import sys
import zlib
from pathlib import Path

import pytest
from support.fake_exchanges import FakeExchanges
from support.recordings import T0, force_order

from liqtui.feeds import recording
from liqtui.feeds.recording import ReadStats, Recorder, read_recording

REPO = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write_run(path: Path, first_t: int, n: int, *, flush_every: int, close: bool) -> dict[int, int]:
    """One run of the recorder: `n` lines, the clock moving past the flush interval every
    `flush_every` lines (that line's write flushes); closed, or left as a crash leaves it.
    The file's size after each flush → the lines the recorder says are on disk by then."""
    clock = FakeClock()
    rec = Recorder(path, clock=clock)
    on_disk: dict[int, int] = {}
    for i in range(n):
        if i and i % flush_every == 0:
            clock.now += 1.0
        rec.write("binance", force_order(t=first_t + i), t=first_t + i)
        if rec.lines_on_disk not in on_disk.values():
            on_disk[path.stat().st_size] = rec.lines_on_disk
    if close:
        rec.close()
        on_disk[path.stat().st_size] = rec.lines_on_disk
    assert rec.error is None
    return on_disk


def members_of(data: bytes) -> list[bytes]:
    """The decompressed text of each finished member, by zlib alone (not liqtui's reader)."""
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = d.decompress(data)
        assert d.eof, "an unfinished member"
        out.append(text)
        data = d.unused_data
    return out


def test_a_crash_at_any_byte_then_a_restart_keeps_every_line_of_both_runs(tmp_path: Path) -> None:
    crashed, restarted = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    lines_at = write_run(crashed, T0, 30, flush_every=5, close=False)
    write_run(restarted, T0 + 1000, 10, flush_every=5, close=True)
    first, second = crashed.read_bytes(), restarted.read_bytes()
    assert len(lines_at) == 6 and lines_at[len(first)] == 26  # the last 4 lines: in memory
    path = tmp_path / "both.jsonl.gz"
    for cut in range(len(first) + 1):  # the first run killed at every byte of its file
        path.write_bytes(first[:cut] + second)
        stats = ReadStats()
        got = [r.t for r in read_recording(path, stats)]
        # The restarted run in full, after as much of the crashed run as reached the disk.
        assert got[-10:] == [T0 + 1000 + i for i in range(10)], cut
        kept = got[:-10]
        assert kept == [T0 + i for i in range(len(kept))], cut
        assert len(kept) >= max((n for size, n in lines_at.items() if size <= cut), default=0)
        # The lines decoded from the flush the cut went through (it is past the member's last
        # sync flush, so untrusted) and the stretch it damaged.
        assert stats.skipped <= 5 + 1, (cut, stats)
        if cut in lines_at and cut:  # killed between two flushes: nothing is lost or counted
            assert len(kept) == lines_at[cut] and stats.skipped == 0, (cut, stats)
            assert stats.unfinished_members == 1 and stats.damaged == 0


def test_members_are_finished_regularly_and_each_run_adds_its_own(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    clock = FakeClock()
    with Recorder(path, clock=clock, member_interval_s=10.0) as rec:
        for i in range(40):
            clock.now = i * 0.5  # 2 lines a second for 19.5 s
            rec.write("binance", force_order(t=T0 + i), t=T0 + i)
            assert rec.lines - rec.lines_on_disk <= 2  # at most a second in memory
    with Recorder(path) as rec:  # a second run appends
        rec.write("binance", force_order(t=T0 + 40), t=T0 + 40)
    # The line written at 10 s finishes the first member; close() the second; run 2 the third.
    assert [m.count(b"\n") for m in members_of(path.read_bytes())] == [21, 19, 1]
    text = gzip.decompress(path.read_bytes())  # a closed file is plain multi-member gzip
    assert [json.loads(x)["t"] for x in text.splitlines()] == [T0 + i for i in range(41)]


def test_plain_file_restarted_after_a_cut_line_loses_only_that_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with Recorder(path) as rec:
        rec.write("binance", force_order(t=T0), t=T0)
    with path.open("a") as fh:
        fh.write('{"t": 1738000000001, "ex": "binance", "msg": {"e": "forceO')  # killed here
    with Recorder(path) as rec:
        rec.write("binance", force_order(t=T0 + 2), t=T0 + 2)
    stats = ReadStats()
    assert [r.t for r in read_recording(path, stats)] == [T0, T0 + 2]
    assert stats.bad_lines == 1 and not stats.truncated_tail


def test_a_partial_write_on_a_full_disk_leaves_a_readable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills up in the middle of a flush: the first half of it is written, then
    ENOSPC (as on a small tmpfs). The recording stops; what is on disk reads."""
    path = tmp_path / "full.jsonl.gz"
    clock = FakeClock()
    rec = Recorder(path, clock=clock)
    for i in range(10):
        rec.write("binance", force_order(t=T0 + i), t=T0 + i)
    rec.flush()
    assert rec.lines_on_disk == 10
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(recording.os, "write", half_then_full)
    for i in range(10, 30):
        rec.write("binance", force_order(t=T0 + i), t=T0 + i)
    clock.now = 2.0
    rec.flush_if_due()
    monkeypatch.undo()
    assert rec.error == f"{path}: No space left on device"
    assert rec.lines_on_disk == 10 and rec.lost == 20
    rec.write("binance", force_order(t=T0 + 99), t=T0 + 99)  # after the failure: counted only
    rec.close()
    assert rec.lost == 21
    stats = ReadStats()
    got = [r.t for r in read_recording(path, stats)]
    assert got[:10] == [T0 + i for i in range(10)] and got == [T0 + i for i in range(len(got))]
    # The half-written flush lies past the member's last sync flush: its lines are not trusted
    # (the writer counted them lost too); they are counted as skipped, not replayed.
    assert len(got) == rec.lines_on_disk and stats.damaged == 0 and stats.bad_lines >= 1


def test_bytes_between_members_that_are_not_gzip_are_one_damaged_stretch(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_run(a, T0, 5, flush_every=5, close=True)
    write_run(b, T0 + 5, 5, flush_every=5, close=True)
    junk = b"\x1f\x8b\x08\xff" + b"not gzip \x1f\x8b" * 20  # a magic with reserved flags set
    path = tmp_path / "both.jsonl.gz"
    path.write_bytes(a.read_bytes() + junk + b.read_bytes() + b"\0" * 64)  # zero padding: fine
    stats = ReadStats()
    assert [r.t for r in read_recording(path, stats)] == [T0 + i for i in range(10)]
    assert stats.damaged == 1 and stats.skipped == 1
    assert "not gzip" in (stats.last_error or "")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
async def test_snapshot_every_with_record_on_a_full_disk_keeps_printing_and_exits_74(
    tmp_path: Path,
) -> None:
    async with FakeExchanges(["BTC"], 3, speed=20.0, history_ms=60_000) as fake:
        config = fake.write_config(tmp_path / "fake.toml")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqtui", "snapshot", "--config", str(config),
            "--symbol", "BTC", "--format", "json", "--every", "1s", "--count", "3",
            "--record", "/dev/full",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    stderr = err.decode()
    assert proc.returncode == 74, stderr
    assert len(out.decode().splitlines()) == 3  # the records went on
    assert "liqtui: recording FAILED: /dev/full: No space left on device" in stderr
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith("liqtui: error: recording FAILED: /dev/full: No space left on device (")
    )
    assert "Traceback" not in stderr
