"""Shared fixtures: a deterministic engine with estimated (E) and realized (R) layers, and a
factory for small Binance recordings. Times are fixed (2026-01-01 UTC), never the wall clock.
The helpers behind them (and every other shared helper) live in tests/support/."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support.engines import SEED_PRICES, SEED_T0, demo_engine_and_history, seed_engine
from support.recordings import force_order, line, mark_price, write_recording

from liqtui.model.engine import Engine

# Property-based tests (hypothesis) run the "fast" profile by default and in CI: reproducible
# (derandomized), a few seconds per test. "deep" is on demand: 25× the examples on fresh random
# seeds, a failure printed with its reproduction blob. Choose it with `LIQTUI_FUZZ=deep` or
# `--hypothesis-profile=deep` (see docs/testing.md). Tests that want more examples than others
# ask for a multiple of the profile's `max_examples`, so the one switch scales every test.
_FUZZ_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "fast", max_examples=20, deadline=None, derandomize=True, database=None,
    suppress_health_check=_FUZZ_CHECKS,
)  # fmt: skip
settings.register_profile(
    "deep", max_examples=500, deadline=None, derandomize=False, print_blob=True,
    suppress_health_check=_FUZZ_CHECKS,
)  # fmt: skip
settings.load_profile(os.environ.get("LIQTUI_FUZZ") or "fast")


@pytest.fixture
def seeded_engine() -> Engine:
    return seed_engine(Engine())


@pytest.fixture
def recording(tmp_path: Path) -> Callable[..., Path]:
    """Factory: recording(seconds, start_ms=...) writes a Binance recording in tmp_path with one
    mark price per market per second (BTC and ETH) and a liquidation every 7 s."""

    def make(seconds: int = 120, *, start_ms: int = SEED_T0, name: str = "rec.jsonl") -> Path:
        lines = []
        for s in range(seconds):
            t = start_ms + s * 1_000
            for symbol, p0 in SEED_PRICES.items():
                p = p0 * (1 + 0.003 * math.sin(s / 15))
                lines.append(line(mark_price(f"{symbol}USDT", f"{p:.2f}", t), t))
                if s % 7 == 0:
                    side = "SELL" if s % 14 else "BUY"  # SELL liquidates a long
                    px = p * (0.997 if side == "SELL" else 1.003)
                    qty = f"{20_000.0 / px * (1 + s):.4f}"
                    order = force_order(f"{symbol}USDT", side, qty, f"{px:.2f}", f"{px:.2f}", t)
                    lines.append(line(order, t + 300))
        return write_recording(tmp_path / name, lines)

    return make


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Keep the developer's own ~/.config/liqtui (config and themes) out of every test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    # ... and their local store (~/.local/state/liqtui): live runs write one, even in a child.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("LIQTUI_CONFIG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    # Live feeds honour proxies from the environment: loopback servers must not go through one.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def demo_engine():  # type: ignore[no-untyped-def]
    """(engine, history) from the demo simulator; see demo_engine_and_history."""
    return demo_engine_and_history()


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Spy on os.replace: (the target's text, the new file's text) at the moment of each
    rename, to show a file is replaced atomically rather than written in place."""
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((Path(dst).read_text(), Path(src).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    return seen
