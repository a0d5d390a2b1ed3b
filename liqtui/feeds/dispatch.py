"""One received message: record it, parse it with the exchange's parser, apply the events.
Shared by the live clients and replay, so both count bad messages the same way."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from liqtui.events import implausible
from liqtui.exchanges.spec import NotTracked, ParseError, PartlyBad, RawJSON, Refused
from liqtui.feeds.recording import Recorder, report_recording
from liqtui.health import FeedHealth
from liqtui.markets import to_market_units
from liqtui.source import EventSink

# How far an event's time may lie ahead of its receive time (clock skew, batching). Further
# ahead is a broken clock: the event is kept at its receive time, so it can neither hold the
# price nor stay in the realized window after its time has passed.
MAX_CLOCK_LEAD_MS = 5 * 60_000

if TYPE_CHECKING:
    from liqtui.events import MarketEvent
    from liqtui.exchanges.spec import ExchangeParser


def deliver(
    msg: object,
    *,
    exchange: str,
    parser: ExchangeParser,
    sink: EventSink,
    health: FeedHealth,
    receive_ms: int,
    recorder: Recorder | None = None,
    rest: str | None = None,
) -> bool:
    """Record, parse and apply one received message; never raises on its content.

    `msg` may be `RawJSON` (replay): a parser that says `reads_raw` decodes it itself, only the
    fields it uses; any other gets the decoded value.

    Returns True when the message carried data (not an ack, a pong or a bad message)."""
    if type(msg) is RawJSON and (recorder is not None or not getattr(parser, "reads_raw", False)):
        msg = msg.value
    if recorder is not None:
        recorder.write(exchange, msg, t=receive_ms, rest=rest)  # never raises: a full disk …
        if recorder.error is not None:  # … is shown in health, and the message still counts
            report_recording(recorder, sink)
    health.messages += 1
    if hasattr(parser, "receive_ms"):
        parser.receive_ms = receive_ms  # parsers that stamp untimed data (Hyperliquid contexts)
    events: list[MarketEvent] | None = None
    try:
        events = parser(msg) if rest is None else parser.rest(rest, msg)
        if events is None:
            health.ignored += 1
    except PartlyBad as exc:  # a batch with bad items: each one skipped, the valid ones kept
        health.skipped += len(exc.errors)
        health.last_error = f"bad message: {exc}"[:200]
        events = exc.events or None
    except NotTracked:
        health.ignored += 1
    except Refused as exc:  # a subscription the exchange refused: counted, never sent again
        health.skipped += 1
        health.refused += 1
        health.last_error = f"subscription refused: {exc}"[:200]
        if exc.markets:
            health.unlisted = tuple(sorted({*health.unlisted, *exc.markets}))
    except ParseError as exc:
        health.skipped += 1
        health.last_error = f"bad message: {exc}"[:200]
    except Exception as exc:  # a parser bug must not take a feed down: count it, keep going
        health.skipped += 1
        health.last_error = f"parser error: {type(exc).__name__}: {exc}"[:200]
    # The clock first: an interval that ended before this message closes without it,
    # whether a live clock tick or (in replay) this message noticed the boundary.
    sink.advance(receive_ms)
    if events is None:
        return False
    applied = 0
    for raw in events:
        event = to_market_units(raw)  # 1000PEPE on Binance, kPEPE on Hyperliquid: PEPE units
        if event.time_ms > receive_ms + MAX_CLOCK_LEAD_MS:
            event = replace(event, time_ms=receive_ms)  # a clock ahead: the data is still data
            health.retimed += 1
        # The engine is the one gate for finite but absurd values (a price of 1e25, a print of
        # 1e200 USD); the reason is looked up only for an event it refused.
        if sink.apply(event) is not False:
            applied += 1
            continue
        why = implausible(event) or "open interest beyond the market's bounds"
        health.skipped += 1
        health.last_error = f"bad message: implausible {type(event).__name__}: {why}"[:200]
    if events and not applied:
        return False
    health.last_event_ms = receive_ms
    return True
