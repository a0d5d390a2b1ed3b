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
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from support.fake_exchanges import FakeExchanges
from support.recordings import T0, force_order

from liqtui.feeds.recording import ReadStats, Recorder, read_recording

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


# -- damaged files, made by hand -------------------------------------------------------------
def three_members(path: Path, per_member: int = 40) -> tuple[list[int], list[int]]:
    """A .gz recording of three finished members of `per_member` lines (t = T0 + line number);
    the offsets where the members end, and each line's t."""
    now = [0.0]
    rec = Recorder(path, clock=lambda: now[0])
    ends: list[int] = []
    ts: list[int] = []
    for m in range(3):
        for i in range(per_member):
            t = T0 + m * per_member + i
            now[0] += 0.5  # each write is a flush (the interval is 1 s every other line)
            rec.write("binance", force_order(t=t), t=t)
            ts.append(t)
        rec.flush(finish=True)
        ends.append(path.stat().st_size)
    rec.close()
    assert rec.error is None
    return ends, ts


def test_garbage_inside_a_member_loses_only_that_member_s_rest(tmp_path: Path) -> None:
    path = tmp_path / "damaged.jsonl.gz"
    ends, ts = three_members(path)
    data = path.read_bytes()
    middle = (ends[0] + ends[1]) // 2  # the middle of the second member
    path.write_bytes(data[:middle] + b"\x00garbage\xff" * 5 + data[middle:])
    stats = ReadStats()
    got = [r.t for r in read_recording(path, stats)]
    first, third = ts[:40], ts[80:]
    assert got[:40] == first and got[-40:] == third  # the members around it, whole
    some_of_second = got[40:-40]
    assert 0 < len(some_of_second) < 40 and some_of_second == ts[40 : 40 + len(some_of_second)]
    assert stats.damaged == 1 and stats.skipped >= 1
    assert stats.bad_lines <= 2  # at most what was decoded of the flush the damage fell in


def test_overwritten_bytes_inside_a_member_are_counted_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "overwritten.jsonl.gz"
    ends, ts = three_members(path)
    data = bytearray(path.read_bytes())
    at = (ends[0] + ends[1]) // 2
    data[at : at + 16] = bytes(range(240, 256))
    path.write_bytes(bytes(data))
    stats = ReadStats()
    got = [r.t for r in read_recording(path, stats)]
    assert got[:40] == ts[:40] and got[-40:] == ts[80:]
    assert stats.damaged == 1


def test_a_member_cut_short_at_the_end_is_read_to_its_last_flush(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    ends, ts = three_members(path)
    data = path.read_bytes()
    for cut in (ends[1] + 11, (ends[1] + ends[2]) // 2, ends[2] - 3):  # header, middle, trailer
        path.write_bytes(data[:cut])
        stats = ReadStats()
        got = [r.t for r in read_recording(path, stats)]
        assert got == ts[: len(got)] and 80 <= len(got) <= 120, cut
        assert stats.unfinished_members == 1 and stats.damaged == 0, cut
        assert stats.bad_lines <= 1, cut  # the line the cut went through


def test_cli_replays_a_damaged_gzip_without_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.jsonl.gz"
    ends, _ = three_members(path)
    data = path.read_bytes()
    middle = (ends[0] + ends[1]) // 2
    path.write_bytes(data[:middle] + b"garbage" + data[middle : ends[2] - 5])
    out = subprocess.run(
        [sys.executable, "-m", "liqtui", "snapshot", "--replay", str(path), "--format", "json",
         "--symbol", "BTC"],
        capture_output=True, text=True, cwd=REPO, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr  # 1: no mark price in these lines; never 70
    assert "internal error" not in out.stderr
    doc = json.loads(out.stdout)
    assert doc["realized"]["count"] >= 80
    assert doc["skipped_messages"] >= 1


# -- any damage anywhere: the reader's invariants ----------------------------------------------
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int], list[int]]:
    path = tmp_path_factory.mktemp("pristine") / "p.jsonl.gz"
    ends, ts = three_members(path)
    return path.read_bytes(), ends, ts


@hyp_settings(  # examples, seeds, deadline: the profile's (tests/conftest.py), 15× its examples
    max_examples=15 * hyp_settings.default.max_examples, suppress_health_check=list(HealthCheck)
)
@given(
    op=st.sampled_from(["insert", "overwrite", "truncate"]),
    where=st.floats(0, 1, exclude_max=True),
    junk=st.binary(min_size=1, max_size=64),
)
def test_damage_anywhere_never_invents_or_loses_whole_members(
    tmp_path_factory: pytest.TempPathFactory,
    pristine: tuple[bytes, list[int], list[int]],
    op: str,
    where: float,
    junk: bytes,
) -> None:
    data, ends, ts = pristine
    at = int(where * len(data))
    if op == "insert":
        damaged, hit_end = data[:at] + junk + data[at:], at + 1
    elif op == "overwrite":
        damaged, hit_end = data[:at] + junk + data[at + len(junk) :], at + len(junk)
    else:
        damaged, hit_end = data[:at], len(data) + 1
    path = tmp_path_factory.mktemp("damaged") / "d.jsonl.gz"
    path.write_bytes(damaged)
    stats = ReadStats()
    got = [r.t for r in read_recording(path, stats)]  # never raises
    # Nothing invented, nothing repeated: a damaged member can decode to the end with wrong
    # digits or an earlier line again, and then fails its check; none of its lines is read.
    assert got == sorted(set(got)) and set(got) <= set(ts)
    starts = [0, *ends[:-1]]
    for m, (start, end) in enumerate(zip(starts, ends, strict=True)):
        member = ts[m * 40 : (m + 1) * 40]
        if end <= at or (start >= hit_end and op != "truncate"):  # untouched by the damage
            assert set(member) <= set(got), (m, op, at)
    if damaged != data and op != "truncate" and len(got) < len(ts):
        assert stats.skipped >= 1 or stats.unfinished_members >= 1
