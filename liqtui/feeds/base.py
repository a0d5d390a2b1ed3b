"""What every source of events (live feed, replay, demo) shares: parse errors, the sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from liqtui.events import MarketEvent
from liqtui.health import FeedHealth
from liqtui.markets import market_of_symbol

T = TypeVar("T")


class ParseError(ValueError):
    """A message that violates the exchange's schema. The caller counts it and skips it."""


class NotTracked(Exception):
    """A valid message about something liqtui does not follow (a USDC or coin-margined market)."""


class Refused(ParseError):
    """The exchange refused a subscription (Bybit `success:false`, OKX `event:error`,
    Hyperliquid's error channel, Binance `{"error":…}`). `markets` are the market keys it names,
    when the answer names them: they are not subscribed there again."""

    def __init__(self, message: str, markets: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.markets = markets


class PartlyBad(ParseError):
    """A batch in which some items are malformed: `events` are the valid items' events (kept),
    `errors` say what was wrong with each bad item (each one counted as skipped)."""

    def __init__(self, events: list[MarketEvent], errors: list[str]) -> None:
        super().__init__(f"{len(errors)} bad item(s) in a batch: {errors[0] if errors else ''}")
        self.events = events
        self.errors = errors


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


def number(obj: object, name: str) -> float:
    """A finite number from a JSON value (exchanges send decimals as strings)."""
    if isinstance(obj, bool) or not isinstance(obj, (str, int, float)):
        raise ParseError(f"{name}: expected a number, got {type(obj).__name__}")
    try:
        value = float(obj)
    except ValueError:
        raise ParseError(f"{name}: {obj!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(f"{name}: {obj!r} is not finite")
    return value


def positive(obj: object, name: str) -> float:
    value = number(obj, name)
    if value <= 0:
        raise ParseError(f"{name}: {obj!r} is not positive")
    return value


def timestamp_ms(obj: object, name: str) -> int:
    """Milliseconds since the epoch: an integer (or integral string) after 2001 and before 2100."""
    if isinstance(obj, bool) or not isinstance(obj, (str, int)):
        raise ParseError(f"{name}: expected integer milliseconds, got {type(obj).__name__}")
    try:
        value = int(obj)
    except ValueError:
        raise ParseError(f"{name}: {obj!r} is not an integer") from None
    if not 1_000_000_000_000 <= value < 4_102_444_800_000:
        raise ParseError(f"{name}: {value} is not a time in milliseconds")
    return value


def listed(exchange: str, items: list[object], **required: str) -> frozenset[str]:
    """Market keys of the instruments in a listing whose fields equal `required` (contract
    type, quote coin, trading status), by their `symbol`."""
    markets = (
        market_of_symbol(exchange, item.get("symbol"))
        for item in items
        if isinstance(item, dict) and all(item.get(k) == v for k, v in required.items())
    )
    return frozenset(m for m in markets if m is not None)


def field(obj: dict[str, object], key: str, where: str) -> object:
    try:
        return obj[key]
    except KeyError:
        raise ParseError(f"{where}: missing {key!r}") from None


class Source(Protocol):
    """A producer of events: a live exchange client, a replay or the demo simulator."""

    name: str

    async def run(self, sink: EventSink) -> None:
        """Deliver events to `sink` until done or cancelled; never raises on bad input."""
        ...


_STRAY = (KeyError, TypeError, IndexError, AttributeError, ValueError, ArithmeticError)


def schema_violation(where: str, exc: Exception) -> ParseError:
    """A stray exception from walking a message, as the ParseError it really is."""
    return ParseError(f"{where}{exc.__class__.__name__}: {exc}")


def guard(call: Callable[[], T], where: str = "") -> T:
    """Run a parse step; anything but ParseError/NotTracked becomes a ParseError."""
    try:
        return call()
    except (ParseError, NotTracked):
        raise
    except _STRAY as exc:
        raise schema_violation(where, exc) from None
