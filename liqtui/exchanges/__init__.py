"""The exchange registry: one `ExchangeSpec` per exchange (liqtui/exchanges/<id>.py).

Everything outside this package asks here (`ids()`, `get(id)`, `specs()`, `make_parsers()`)
instead of naming exchange ids: adding an exchange is one new module plus one line in
`_builtin()` (docs/exchanges.md). The order of `ids()` is the order exchanges are listed,
enabled by default and indexed in the model.

The exchange modules are imported on first use, not when this package is: they read market names
through liqtui.markets, which itself asks this registry.
"""

from __future__ import annotations

from liqtui.exchanges.spec import ExchangeParser, ExchangeSpec

__all__ = ["ExchangeSpec", "find", "get", "ids", "make_parsers", "register", "specs", "throttled"]

_specs: dict[str, ExchangeSpec] = {}


def _builtin() -> list[ExchangeSpec]:
    from liqtui.exchanges import binance, bybit, hyperliquid, okx

    return [binance.SPEC, bybit.SPEC, okx.SPEC, hyperliquid.SPEC]


def _table() -> dict[str, ExchangeSpec]:
    if not _specs:
        for spec in _builtin():
            _specs.setdefault(spec.id, spec)
    return _specs


def register(spec: ExchangeSpec) -> None:
    """Add (or replace) an exchange; it is listed after the ones registered before it."""
    _table()[spec.id] = spec


def ids() -> tuple[str, ...]:
    """Every registered exchange id, in registration order."""
    return tuple(_table())


def specs() -> tuple[ExchangeSpec, ...]:
    return tuple(_table().values())


def get(exchange: str) -> ExchangeSpec:
    """The spec of `exchange`; KeyError naming the known ids when there is none."""
    try:
        return _table()[exchange]
    except KeyError:
        raise KeyError(f"unknown exchange {exchange!r} ({', '.join(ids())})") from None


def find(exchange: str) -> ExchangeSpec | None:
    return _table().get(exchange)


def throttled() -> frozenset[str]:
    """Exchanges whose public liquidation stream is a lower bound (at most one print per
    symbol and second)."""
    return frozenset(s.id for s in specs() if s.liquidations == "throttled")


def make_parsers() -> dict[str, ExchangeParser]:
    """Exchange id → a fresh parser (replay and each live session make their own)."""
    return {s.id: s.parser() for s in specs()}
