"""Exchange liquidation maths for isolated positions (models.md §4).

All formulas assume isolated margin equal to the initial margin (margin = notional / leverage) and
ignore fees unless the exchange's own liquidation rule includes them (OKX adds the taker fee to the
maintenance requirement). `liquidation_prices` is the vectorised form the density model uses; the
scalar `liquidation_price` is the public entry point and calls it.

Derivations, with EP the entry price, L the leverage, m the maintenance margin rate (MMR),
cum the maintenance amount (Binance) or deduction (Bybit), Q the quantity in base units:
- Binance USDⓈ-M:   long  LP = (EP·(1 − 1/L) − cum/Q) / (1 − m)
                     short LP = (EP·(1 + 1/L) + cum/Q) / (1 + m)
- Bybit linear:      long  LP = EP·(1 − 1/L + m) − cum/Q        (IM − MM over Q, MM = Q·EP·m − cum)
                     short LP = EP·(1 + 1/L − m) + cum/Q
- OKX swap:          long  LP = EP·(1 − 1/L) / (1 − m − fee)
                     short LP = EP·(1 + 1/L) / (1 + m + fee)
- Hyperliquid:       m = 1/(2·max leverage); same form as Binance with cum = 0.

m, cum and the maximum leverage come from the exchange's tier table for the market (Binance
brackets, Bybit risk limits, OKX position tiers, Hyperliquid's max leverage), taken at the
*liquidation* notional (`tiered_liquidation_price`). The tables are dated data shipped in
liqtui/data/brackets.toml; `liqtui calibrate --refresh-tiers` fetches Bybit's and OKX's into the
user's tiers file, which overrides them (`load_tier_tables`).
"""

from __future__ import annotations

import functools
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from liqtui import exchanges as registry
from liqtui.exchanges.spec import MarginRule


def _rule(exchange: object) -> MarginRule | None:
    """The exchange's margin rules (formula form, tier-1 MMR, fee in maintenance, ...)."""
    spec = registry.find(exchange) if isinstance(exchange, str) else None
    return None if spec is None else spec.margin


@dataclass(frozen=True, slots=True)
class Bracket:
    """One maintenance-margin tier: applies to positions up to `notional_cap`.

    `notional_cap` is USD notional, or base units for tables whose `cap_unit` is "base" (OKX's
    position tiers are sized in contracts). `maint_amount` is Binance's cum or Bybit's deduction.
    """

    notional_cap: float
    max_leverage: float
    mmr: float
    maint_amount: float


@dataclass(frozen=True, slots=True)
class TierTable:
    """The tiers of one exchange and market, with where they came from (dated data)."""

    exchange: str
    symbol: str
    tiers: tuple[Bracket, ...]
    cap_unit: str = "usd"  # "usd": caps are notional; "base": caps are base units
    source: str = ""
    date: str = ""
    checked: str = ""
    verified: bool = False

    def tier_for(self, notional_usd: float, quantity: float) -> Bracket:
        """The tier holding a position of this notional (USD) and size (base units)."""
        size = quantity if self.cap_unit == "base" else notional_usd
        for tier in self.tiers:
            if size <= tier.notional_cap:
                return tier
        return self.tiers[-1]

    @property
    def max_leverage(self) -> float:
        return self.tiers[0].max_leverage


@dataclass(frozen=True)
class TierTables:
    """Tier tables by (exchange, market); one-tier defaults for markets without a table."""

    tables: dict[tuple[str, str], TierTable]
    defaults: dict[str, TierTable]
    files: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return id(self)

    def table(self, exchange: str, symbol: str | None = None) -> TierTable:
        found = self.tables.get((exchange, symbol or "BTC"))
        if found is not None:
            return found
        default = self.defaults.get(exchange)
        if default is None:
            raise ValueError(f"unknown exchange {exchange!r} (binance, bybit, okx, hyperliquid)")
        return default


class TierDataError(ValueError):
    """A tiers file that does not follow the format of liqtui/data/brackets.toml."""


SHIPPED_TIERS = Path(__file__).resolve().parent.parent / "data" / "brackets.toml"
_CAP_UNITS = ("usd", "base")


def _tier_row(row: object, where: str) -> Bracket:
    if not isinstance(row, list) or len(row) != 4:
        raise TierDataError(f"{where}: a tier is [cap, max_leverage, mmr, maint_amount]")
    try:
        cap, lev, mmr, amount = (float(x) for x in row)
    except (TypeError, ValueError):
        raise TierDataError(f"{where}: tier values must be numbers") from None
    if not (cap > 0 and lev >= 1 and 0 <= mmr < 1 and amount >= 0):
        raise TierDataError(f"{where}: cap > 0, max_leverage >= 1, 0 <= mmr < 1, amount >= 0")
    return Bracket(cap, lev, mmr, amount)


def parse_tier_tables(data: dict[str, Any], where: str) -> TierTables:
    """Tier tables from a parsed TOML document in the brackets.toml format."""
    defaults: dict[str, TierTable] = {}
    for exchange, body in data.get("defaults", {}).items():
        if _rule(exchange) is None or not isinstance(body, dict):
            raise TierDataError(f"{where}: [defaults.{exchange}]: unknown exchange or not a table")
        tier = _tier_row([math.inf, body.get("max_leverage"), body.get("mmr"), 0], where)
        defaults[exchange] = TierTable(
            exchange, "*", (tier,), "usd", str(body.get("source", "")), "", "", False
        )
    tables: dict[tuple[str, str], TierTable] = {}
    for i, body in enumerate(data.get("table", [])):
        here = f"{where}: table {i + 1}"
        if not isinstance(body, dict):
            raise TierDataError(f"{here}: not a table")
        exchange, symbol = body.get("exchange"), body.get("symbol")
        unit = body.get("cap_unit", "usd")
        if not isinstance(exchange, str) or _rule(exchange) is None:
            raise TierDataError(f"{here}: needs exchange, symbol and cap_unit usd|base")
        if not isinstance(symbol, str) or unit not in _CAP_UNITS:
            raise TierDataError(f"{here}: needs exchange, symbol and cap_unit usd|base")
        rows = body.get("tiers")
        if not isinstance(rows, list) or not rows:
            raise TierDataError(f"{here}: tiers must be a non-empty list")
        tiers = tuple(_tier_row(r, here) for r in rows)
        if any(b.notional_cap <= a.notional_cap for a, b in itertools.pairwise(tiers)):
            raise TierDataError(f"{here}: tier caps must increase")
        tables[(exchange, symbol)] = TierTable(
            exchange=exchange,
            symbol=symbol,
            tiers=tiers,
            cap_unit=unit,
            source=str(body.get("source", "")),
            date=str(body.get("date", "")),
            checked=str(body.get("checked", "")),
            verified=bool(body.get("verified", False)),
        )
    return TierTables(tables, defaults, (where,))


def load_tier_tables(extra: str | Path | None = None) -> TierTables:
    """The shipped tables, overlaid with `extra` (a refreshed tiers file) when it exists."""
    with SHIPPED_TIERS.open("rb") as fh:
        shipped = parse_tier_tables(tomllib.load(fh), str(SHIPPED_TIERS))
    if extra is None or not Path(extra).is_file():
        return shipped
    try:
        with Path(extra).open("rb") as fh:
            user = parse_tier_tables(tomllib.load(fh), str(extra))
    except tomllib.TOMLDecodeError as exc:
        raise TierDataError(f"{extra}: invalid TOML: {exc}") from None
    return TierTables(
        {**shipped.tables, **user.tables},
        {**shipped.defaults, **user.defaults},
        (*shipped.files, str(extra)),
    )


@functools.cache
def shipped_tier_tables() -> TierTables:
    return load_tier_tables()


def liquidation_prices(
    exchange: str,
    side: str,
    entry: ArrayLike,
    leverage: ArrayLike,
    *,
    mmr: ArrayLike | None = None,
    maint_amount: ArrayLike = 0.0,
    quantity: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Vectorised isolated liquidation prices; arguments broadcast against each other."""
    rule = _rule(exchange)
    if rule is None:
        raise ValueError(f"unknown exchange {exchange!r} ({', '.join(registry.ids())})")
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', not {side!r}")
    ep = np.asarray(entry, dtype=np.float64)
    lev = np.asarray(leverage, dtype=np.float64)
    if np.any(~(ep > 0)):
        raise ValueError("entry price must be positive")
    if np.any(~(lev >= 1)):
        raise ValueError("leverage must be at least 1")
    m = np.asarray(rule.tier1_mmr if mmr is None else mmr, dtype=np.float64)
    if np.any((m < 0) | (m >= 1)):
        raise ValueError("mmr must be in [0, 1)")
    cum = np.asarray(maint_amount, dtype=np.float64)
    if quantity is None:
        if np.any(cum != 0):
            raise ValueError("a maintenance amount needs the position quantity")
        per_unit: np.float64 | NDArray[np.float64] = np.float64(0.0)
    else:
        q = np.asarray(quantity, dtype=np.float64)
        if np.any(~(q > 0)):
            raise ValueError("quantity must be positive")
        per_unit = cum / q
    sign = 1.0 if side == "long" else -1.0
    if rule.fee_in_maintenance:
        m = m + rule.fee_in_maintenance
    if rule.form == "linear":
        return ep * (1.0 - sign / lev + sign * m) - sign * per_unit
    return (ep * (1.0 - sign / lev) - sign * per_unit) / (1.0 - sign * m)


def liquidation_price(
    exchange: str,
    side: str,
    entry: float,
    leverage: float,
    *,
    mmr: float | None = None,
    maint_amount: float = 0.0,
    quantity: float | None = None,
    symbol: str | None = None,
    tiers: TierTable | None = None,
) -> float:
    """Liquidation price of one isolated position (margin = initial margin), exchange-exact.

    `side` is "long" or "short". With an explicit `mmr` (and optionally `maint_amount`, Binance's
    cum or Bybit's deduction, which needs `quantity` in base units) the formula is applied as is.
    Without `mmr`:
    - with `quantity`: the tier of the position *at the liquidation price* from the exchange's
      tier table (`tiers`, or the shipped table of `symbol`, default BTC): Binance bracket MMR and
      maintenance amount, Bybit MMR and deduction, OKX tier MMR (+ taker fee), Hyperliquid
      MMR = 1/(2 × max leverage);
    - without: tier 1 of that table (the exchange's BTC tier 1 when no symbol is given).
    Example: liquidation_price("bybit", "long", 20_000, 50, mmr=0.005) == 19_700.
    """
    if mmr is None and (quantity is not None or symbol is not None or tiers is not None):
        if maint_amount:
            raise ValueError("give mmr with maint_amount (or neither, to use the tier table)")
        table = tiers or shipped_tier_tables().table(exchange, symbol)
        if quantity is None:
            tier = table.tiers[0]
            return float(
                liquidation_prices(exchange, side, entry, leverage, mmr=_tier_mmr(exchange, tier))
            )
        return tiered_liquidation_price(exchange, side, entry, leverage, quantity, table)
    result = liquidation_prices(
        exchange, side, entry, leverage, mmr=mmr, maint_amount=maint_amount, quantity=quantity
    )
    return float(result)


def _tier_mmr(exchange: str, tier: Bracket) -> float:
    """A tier's maintenance rate; Hyperliquid's is half the initial margin at max leverage."""
    rule = _rule(exchange)
    if rule is not None and rule.mmr_from_max_leverage:
        return 1.0 / (2.0 * tier.max_leverage)
    return tier.mmr


def tiered_liquidation_price(
    exchange: str, side: str, entry: float, leverage: float, quantity: float, table: TierTable
) -> float:
    """Liquidation price with the tier that holds the position *at the liquidation price*.

    Binance's FAQ: compute with the bracket of the position and recalculate if the notional at the
    liquidation price falls in another bracket; liqtui applies the same rule to every exchange's
    table (OKX tiers are by size, so its tier never changes with price). Iterates until stable.
    """
    if not quantity > 0:
        raise ValueError("quantity must be positive")
    tier = table.tier_for(entry * quantity, quantity)
    rule = _rule(exchange)
    price = entry
    for _ in range(len(table.tiers) + 1):
        amount = tier.maint_amount if rule is None or rule.maint_amount else 0.0
        price = float(
            liquidation_prices(
                exchange,
                side,
                entry,
                leverage,
                mmr=_tier_mmr(exchange, tier),
                maint_amount=amount,
                quantity=quantity,
            )
        )
        at_liq = table.tier_for(max(price, 0.0) * quantity, quantity)
        if at_liq == tier:
            break
        tier = at_liq
    return price


@functools.cache
def level_factors(exchange: str, leverages: tuple[float, ...]) -> NDArray[np.float64]:
    """Liquidation price per unit of entry price, shape (2 sides: long, short; tiers).

    With the tier-1 rate and no maintenance amount every formula above is linear in the entry
    price, so the density model places a whole interval's entries with one multiply.
    """
    lev = np.asarray(leverages, dtype=np.float64)
    factors = np.stack([liquidation_prices(exchange, side, 1.0, lev) for side in ("long", "short")])
    factors.flags.writeable = False
    return factors


def model_level_factors(
    exchange: str,
    leverages: tuple[float, ...],
    table: TierTable,
    *,
    position_usd: float,
    price: float,
) -> tuple[NDArray[np.float64], tuple[float, ...]]:
    """Per-tier liquidation price / entry price for the density model, shape (2, tiers).

    The model knows aggregate notional, not positions, so every leverage tier stands for a
    representative position of `position_usd` (entry notional). For that size the exchange's tier
    at the liquidation price gives MMR and maintenance amount; cum/Q = cum·EP/N, so the level is
    still proportional to the entry price. A leverage above what the tier allows is placed at the
    tier's maximum (Hyperliquid BTC: 40x). Returns the factors and the leverages actually used.
    """
    quantity = position_usd / price
    used = tuple(
        float(min(lev, table.tier_for(position_usd, quantity).max_leverage)) for lev in leverages
    )
    out = np.empty((2, len(leverages)), dtype=np.float64)
    for s, side in enumerate(("long", "short")):
        for t, lev in enumerate(used):
            out[s, t] = (
                tiered_liquidation_price(exchange, side, price, lev, quantity, table) / price
            )
    out.flags.writeable = False
    return out, used
