"""The health of one event source (live feed, replay, demo): a leaf shared by feeds (which write
it), the model engine (which keeps one per feed) and the views (which show frozen copies)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(slots=True)
class FeedHealth:
    """Mutable health record of one feed; views only ever see `frozen()` copies."""

    name: str
    # connecting|connected|reconnecting|stale|down|replaying|finished|simulated, or failed (a
    # recording that cannot be written, a replay file with nothing in it: see last_error)
    state: str = "connecting"
    last_event_ms: int | None = None  # source clock of the last message with data
    messages: int = 0  # messages received
    skipped: int = 0  # messages that could not be parsed (bad JSON, schema violations)
    ignored: int = 0  # valid messages that carry nothing liqtui uses (acks, other streams)
    last_error: str | None = None
    liquidations_complete: bool | None = None  # False: exchange throttles its liquidation stream
    note: str = ""
    rate_per_s: float = 0.0  # messages per second, recent
    reconnects: int = 0  # unplanned; on a complete feed each one may be a gap in R
    failures: int = 0  # failed connection attempts in a row (reset by data)
    next_retry_ms: int | None = None  # wall clock of the next attempt while down or reconnecting
    refused: int = 0  # subscriptions the exchange refused
    unlisted: tuple[str, ...] = ()  # watched markets this exchange does not list (or refused)
    poll_stretch: float = 1.0  # REST poll intervals × this, to stay within the rate limit
    retimed: int = 0  # events stamped over 5 min after their receive time, kept at receive time
    # The history of the watched markets on this exchange (the local store, then the REST
    # backfill of the gap; liqtui.feeds.preload): "" (none asked for), "loading", "done",
    # "partial" (some of it; history_note says why), "failed", or "store" (the exchange has no
    # open-interest history: its estimate comes from the store only).
    history: str = ""
    history_markets: tuple[str, ...] = ()  # markets whose history is still loading here
    history_progress: float = 0.0  # 0 to 1: of the history asked for, the part loaded
    history_note: str = ""  # why it is partial or failed, or what the exchange cannot give

    def frozen(self) -> FeedHealth:
        return replace(self)

    def remarks(self) -> str:
        """The note, with the watched markets the exchange does not list and how much slower
        its REST polls run to stay within the rate limit."""
        parts = [self.note] if self.note else []
        if self.unlisted:
            names = ", ".join(self.unlisted[:3]) + ("…" if len(self.unlisted) > 3 else "")
            parts.append(f"{names} not listed")
        if self.retimed:
            parts.append(f"{self.retimed} events retimed (their clock was ahead)")
        if self.poll_stretch > 1.05:
            parts.append(f"polls ×{self.poll_stretch:.1f} slower (rate limit)")
        if self.history in ("partial", "failed", "store") and self.history_note:
            parts.append(f"history {self.history}: {self.history_note}")
        return "; ".join(parts)


def history_progress(feeds: Sequence[FeedHealth]) -> str | None:
    """The history still loading, for a status line: "history BTC 2/3 exchanges, 62%" (the
    markets loading, the exchanges done of those asked, the share loaded); None when nothing
    loads."""
    asked = [f for f in feeds if f.history]
    loading = [f for f in asked if f.history == "loading"]
    if not loading:
        return None
    markets = sorted({m for f in loading for m in f.history_markets})
    shown = ", ".join(markets[:3]) + ("…" if len(markets) > 3 else "")
    done = len(asked) - len(loading)
    share = sum(1.0 if f.history != "loading" else f.history_progress for f in asked) / len(asked)
    return f"history {shown} {done}/{len(asked)} exchanges, {share:.0%}".replace("  ", " ")
