"""Alerts: thresholds on the watchlist's markets → a notification, the bell, and a command.

Three kinds, each configurable in [alerts] (see config.toml):

- "realized": realized (R) liquidation notional in the last minute ≥ realized_usd_per_min;
- "dense-zone": the price entered a dense zone, i.e. the estimated (E) notional within
  dense_zone_pct of the price (longs below plus shorts above, `liqtui.model.risk.e_within`, the
  figure the cascade panel and the snapshot show) reached dense_zone_usd (fires on entering,
  not while inside);
- "cascade": the cascade detector started firing.

`AlertMonitor.check` is pure bookkeeping (edge detection and the per-market rate limit, on the
source clock); `AlertMonitor.scan` checks every followed market of an engine. `sound_alerts`
shows what they return in the app and, if a command is configured, `CommandRunner` runs it
with `asyncio.create_subprocess_exec` (an argument list, never a shell).

An alert is an edge: a condition seen off, then on. The first look at a market, and every
look before the app's start (warm-up, backfill, replay catch-up: `present=False`), only
records the condition, so what happened before the app started never alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.risk import detector, e_within
from liqtui.output.ladder import compact_usd

if TYPE_CHECKING:
    from textual.app import App

KINDS = ("realized", "dense-zone", "cascade")


@dataclass(frozen=True, slots=True)
class AlertRules:
    enabled: bool = True
    bell: bool = True
    realized_usd_per_min: float = 0.0
    dense_zone_usd: float = 0.0
    dense_zone_pct: float = 0.002
    cascade: bool = True
    command: tuple[str, ...] = ()
    min_interval_ms: int = 60_000


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    symbol: str
    message: str
    t_ms: int


@dataclass
class AlertMonitor:
    rules: AlertRules = field(default_factory=AlertRules)
    _active: dict[tuple[str, str], bool] = field(default_factory=dict)
    _last: dict[tuple[str, str], int] = field(default_factory=dict)
    fired: list[Alert] = field(default_factory=list)

    def _edge(
        self, kind: str, symbol: str, on: bool, now_ms: int, message: str, *, present: bool
    ) -> Alert | None:
        key = (kind, symbol)
        was = self._active.get(key)
        self._active[key] = on
        if not on or was is not False or not present:  # on before, first look, or the past
            return None
        last = self._last.get(key)
        if last is not None and now_ms - last < self.rules.min_interval_ms:
            return None
        self._last[key] = now_ms
        alert = Alert(kind, symbol, message, now_ms)
        self.fired.append(alert)
        del self.fired[:-100]
        return alert

    def check(
        self,
        snap: MarketSnapshot,
        *,
        realized_last_min_usd: float,
        cascade_firing: bool,
        cascade_reason: str = "",
        present: bool = True,
    ) -> list[Alert]:
        """Alerts that start now for one market (`snap` with the full window). `present`:
        False while the data is older than the app's start (conditions recorded, no alert)."""
        r = self.rules
        if not r.enabled or snap.price is None:
            return []
        now, sym = snap.as_of_ms, snap.symbol
        out: list[Alert] = []
        if r.realized_usd_per_min > 0:
            on = realized_last_min_usd >= r.realized_usd_per_min
            msg = (
                f"{sym}: R {compact_usd(realized_last_min_usd)} liquidated in the last minute "
                f"(alert at {compact_usd(r.realized_usd_per_min)})"
            )
            if a := self._edge("realized", sym, on, now, msg, present=present):
                out.append(a)
        if r.dense_zone_usd > 0:
            zone = e_within(snap, (r.dense_zone_pct,)).total(0)
            on = zone is not None and zone >= r.dense_zone_usd
            msg = (
                f"{sym}: price {snap.price:,.6g} entered a dense zone: E {compact_usd(zone or 0)} "
                f"within ±{r.dense_zone_pct * 100:g}%"
            )
            if a := self._edge("dense-zone", sym, on, now, msg, present=present):
                out.append(a)
        if r.cascade:
            msg = f"{sym}: cascade detector firing" + (
                f" ({cascade_reason})" if cascade_reason else ""
            )
            if a := self._edge("cascade", sym, cascade_firing, now, msg, present=present):
                out.append(a)
        return out

    def scan(
        self,
        engine: Engine,
        symbols: Iterable[str],
        *,
        window_ms: int | None,
        exchange: str | None,
        present_from_ms: int | None,
    ) -> list[Alert]:
        """Alerts that start now in any of `symbols`. `present_from_ms`: the time (source
        clock) from which events happen after the app's start (None: not known yet); earlier
        data only records conditions, and R counts only prints from then on. `exchange`: the
        app's exchange filter, which the cascade detector's last-minute R follows."""
        if not self.rules.enabled:
            return []
        fired: list[Alert] = []
        for symbol in symbols:
            snap = engine.snapshot(symbol, window_ms=window_ms)
            if snap.price is None:
                continue
            # The detector alone, not the whole risk report (its cascade paths cost ~1 ms a
            # market; checked every second for every followed market).
            det = detector(snap.activity)
            start = present_from_ms
            fired += self.check(
                snap,
                realized_last_min_usd=realized_since(engine, snap, start, exchange=exchange),
                cascade_firing=det is not None and det.firing,
                cascade_reason="; ".join(det.reasons) if det is not None else "",
                present=start is not None and snap.as_of_ms >= start,
            )
        return fired


def realized_since(
    engine: Engine, snap: MarketSnapshot, start_ms: int | None, *, exchange: str | None
) -> float:
    """R in the last minute, counting only prints from `start_ms` on (not a backfill)."""
    if start_ms is not None and snap.as_of_ms < start_ms:
        return 0.0
    # (a window of 0 would mean the whole window; 1 ms counts the prints at start_ms)
    window = 60_000 if start_ms is None else max(1, min(60_000, snap.as_of_ms - start_ms))
    recent = engine.snapshot(snap.symbol, window_ms=window, exchange=exchange)
    return recent.realized_long_usd + recent.realized_short_usd


def command_args(template: Sequence[str], alert: Alert) -> list[str]:
    """The command's argument list with {symbol}, {kind} and {message} filled in."""
    values = {"symbol": alert.symbol, "kind": alert.kind, "message": alert.message}
    out = []
    for arg in template:
        for key, value in values.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


async def run_command(argv: Sequence[str], timeout_s: float = 30.0) -> int | None:
    """Run an alert command (no shell, no stdin, output discarded); its exit status, or None
    if it could not start or ran too long (then it is killed)."""
    if not argv:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        return await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None


class CommandRunner:
    """Runs the alert command for each alert, in the background (the running event loop);
    keeps each task until it ends."""

    def __init__(self) -> None:
        self.started = 0
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self, template: Sequence[str], alert: Alert) -> None:
        task = asyncio.get_running_loop().create_task(run_command(command_args(template, alert)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.started += 1


def sound_alerts(
    app: App[Any], alerts: Iterable[Alert], rules: AlertRules, commands: CommandRunner
) -> None:
    """Each alert as `rules` say: a notification, the bell, the command."""
    for alert in alerts:
        app.notify(
            alert.message,
            title=f"Alert: {alert.kind}",
            severity="warning",
            timeout=10,
            markup=False,
        )
        if rules.bell:
            app.bell()
        if rules.command:
            commands.start(rules.command, alert)
