"""A recording that cannot be written (a full disk) never stops the live view, and says so
(issue 11, item 20). The full disk is the kernel's own: the recorder's file descriptor is
pointed at /dev/full, where every write fails with ENOSPC."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from pathlib import Path

import pytest
from support.fake_exchanges import FakeExchanges
from support.loopback import loopback_settings, wait_until

from liqtui.feeds.live import LiveSource
from liqtui.feeds.recording import RECORDING_FEED, ReadStats, Recorder, read_recording
from liqtui.model.density import ModelParams
from liqtui.model.engine import Engine
from liqtui.output.snapshot import snapshot_dict
from liqtui.ui.widgets.status import status_parts

REPO = Path(__file__).resolve().parent.parent
MINUTE = 60_000
EXIT_IOERR = 74
pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


def fill_the_disk(recorder: Recorder) -> None:
    """From now on every write of `recorder` fails with ENOSPC, as on a full disk."""
    assert recorder._fd is not None
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, recorder._fd)
    finally:
        os.close(full)


async def test_a_full_disk_keeps_the_live_feed_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl.gz"
    recorder = Recorder(path)
    engine = Engine(params=dataclasses.replace(ModelParams(), step_ms=250))
    async with FakeExchanges(["BTC"], 7, speed=20.0, history_ms=2 * MINUTE) as fake:
        settings = loopback_settings(fake.endpoints(), oi_poll="250ms", depth_poll="1s")
        source = LiveSource(settings, ["BTC"], recorder=recorder)
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: recorder.lines_on_disk > 50, timeout=20)
            reconnects = {f.name: (f.reconnects, f.failures) for f in engine.feeds.values()}
            fill_the_disk(recorder)
            await wait_until(lambda: recorder.error is not None, timeout=5)
            assert "No space left on device" in (recorder.error or "")
            assert str(path) in (recorder.error or "")
            # The feeds go on delivering to the engine after the failure.
            messages = {f.name: f.messages for f in engine.feeds.values()}
            before = engine.snapshot("BTC")
            await wait_until(
                lambda: all(
                    engine.feeds[name].messages > n for name, n in messages.items()
                    if name != RECORDING_FEED
                ),
                timeout=10,
            )  # fmt: skip
            fake.cascade(duration_ms=MINUTE // 4, move=0.02, fast=True)
            await wait_until(
                lambda: engine.snapshot("BTC").realized_count > before.realized_count, timeout=10
            )
            snap = engine.snapshot("BTC")
            assert snap.price is not None
            exchanges = [f for f in snap.feeds if f.name != RECORDING_FEED]
            assert all(f.state == "connected" for f in exchanges), [
                (f.name, f.state, f.last_error) for f in exchanges
            ]
            # Not one connection was dropped over it (a raise in the read loop reconnects).
            assert {f.name: (f.reconnects, f.failures) for f in exchanges} == {
                name: r for name, r in reconnects.items() if name != RECORDING_FEED
            }
            assert recorder.lost > 0  # lines not written are counted
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            recorder.close()
    # Reported where a user looks: the snapshot JSON's feed health and the TUI's status line.
    snap = engine.snapshot("BTC")
    feeds = {f["name"]: f for f in snapshot_dict(snap)["feeds"]}
    assert feeds[RECORDING_FEED]["state"] == "failed"
    assert feeds[RECORDING_FEED]["last_error"] == f"recording FAILED: {recorder.error}"
    status = " ".join(p.segs[0][0] for line in status_parts(snap) for p in line)
    assert f"recording FAILED: {path}: No space left on device" in status
    # What was written before the disk filled up is still a readable recording.
    stats = ReadStats()
    assert sum(1 for _ in read_recording(path, stats)) >= 50
    assert stats.damaged == 0


async def test_record_on_a_full_disk_exits_74_naming_the_file_and_the_cause(
    tmp_path: Path,
) -> None:
    async with FakeExchanges(["BTC"], 7, speed=20.0, history_ms=2 * MINUTE) as fake:
        config = fake.write_config(tmp_path / "fake.toml")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqtui", "record", "--config", str(config),
            "--out", "/dev/full", "BTC",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == EXIT_IOERR, err.decode()
    last = err.decode().strip().splitlines()[-1]
    assert "recording FAILED: /dev/full: No space left on device" in last
    assert "Traceback" not in err.decode()


@pytest.mark.parametrize("fails_in", ["write", "flush_if_due", "close"])
def test_a_write_error_never_raises_wherever_it_happens(fails_in: str) -> None:
    """The recorder's write paths (a line's write, the live source's timer, close) meet ENOSPC
    without raising: the live read loop and the clock task call them."""
    now = [0.0]
    recorder = Recorder("/dev/full", clock=lambda: now[0])
    recorder.write("binance", {"a": 1}, t=1_738_000_000_000)  # pending, within the interval
    now[0] = 5.0
    if fails_in == "write":
        recorder.write("binance", {"a": 2}, t=1_738_000_000_001)
    elif fails_in == "flush_if_due":
        recorder.flush_if_due()
    recorder.close()
    assert recorder.error == "/dev/full: No space left on device"
    assert recorder.lines_on_disk == 0 and recorder.lost == recorder.lines
    recorder.write("binance", {"a": 3}, t=1_738_000_000_002)  # after the failure: counted
    assert recorder.lost == recorder.lines + 1
