"""What every source of events (live feeds, replay, the demo) and the model engine agree on: a
`Source` delivers normalized events to an `EventSink`. A leaf, so the views can hold a source
without importing the feeds, and the engine can be a sink without knowing any source."""

from __future__ import annotations

from typing import Protocol

from liqtui.events import MarketEvent
from liqtui.health import FeedHealth


class EventSink(Protocol):
    """Where sources deliver normalized events (the model engine)."""

    def apply(self, event: MarketEvent) -> bool | None:
        """Apply one event; False when the sink refused it as implausible."""
        ...

    def advance(self, now_ms: int) -> None:
        """Move the source clock: closes model intervals and the realized window."""
        ...

    def feed(self, name: str) -> FeedHealth:
        """The health record for feed `name`, created on first use."""
        ...


class HistoryHost(EventSink, Protocol):
    """A sink that can take a market's past built off to the side (the model engine): its clock
    is one for every market and never runs backwards, so history that arrives after live data
    is applied to a `fork()` (the way a replay applies it) and then `adopt`ed."""

    def fork(self) -> EventSink:
        """An empty sink with the same parameters, on a clock of its own."""
        ...

    def adopt(self, symbol: str, fork: EventSink) -> bool:
        """Take `symbol`'s state from `fork`; False when the fork has none."""
        ...


class Source(Protocol):
    """A producer of events: a live exchange client, a replay or the demo simulator."""

    name: str

    async def run(self, sink: EventSink) -> None:
        """Deliver events to `sink` until done or cancelled; never raises on bad input."""
        ...
