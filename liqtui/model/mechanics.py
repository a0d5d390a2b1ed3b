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
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True, slots=True)
class Bracket:
    """One maintenance-margin bracket: applies to position notional up to `notional_cap` USD."""

    notional_cap: float
    max_leverage: float
    mmr: float
    maint_amount: float


# Binance USDⓈ-M BTCUSDT brackets. The endpoint that serves them (/fapi/v1/leverageBracket) needs
# an API key, so liqtui ships the table. Source: models.md §4.1, a captured API response
# (boolean404/heikin-ashi-trading-bot json/fapiPrivate_get_leverage_bracket.py); tier 1 checked
# against the Binance FAQ (0–50k, 125x, 0.40%, cum 0).
BINANCE_BTCUSDT_BRACKETS: tuple[Bracket, ...] = (
    Bracket(50_000, 125, 0.004, 0.0),
    Bracket(250_000, 100, 0.005, 50.0),
    Bracket(3_000_000, 50, 0.01, 1_300.0),
    Bracket(20_000_000, 20, 0.025, 46_300.0),
    Bracket(40_000_000, 10, 0.05, 546_300.0),
    Bracket(100_000_000, 5, 0.10, 2_546_300.0),
    Bracket(120_000_000, 4, 0.125, 5_046_300.0),
    Bracket(200_000_000, 3, 0.15, 8_046_300.0),
    Bracket(300_000_000, 2, 0.25, 28_046_300.0),
)

# Tier-1 maintenance margin rates used when the caller gives no MMR.
TIER1_MMR: dict[str, float] = {
    "binance": 0.004,
    "bybit": 0.005,
    "okx": 0.004,
    "hyperliquid": 1.0 / (2 * 40),  # BTC: 40x max leverage → 1.25%
}
OKX_TAKER_FEE = 0.0005

_FORMS = {"binance": "divided", "hyperliquid": "divided", "okx": "divided", "bybit": "linear"}


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
    form = _FORMS.get(exchange)
    if form is None:
        raise ValueError(f"unknown exchange {exchange!r} (binance, bybit, okx, hyperliquid)")
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', not {side!r}")
    ep = np.asarray(entry, dtype=np.float64)
    lev = np.asarray(leverage, dtype=np.float64)
    if np.any(~(ep > 0)):
        raise ValueError("entry price must be positive")
    if np.any(~(lev >= 1)):
        raise ValueError("leverage must be at least 1")
    m = np.asarray(TIER1_MMR[exchange] if mmr is None else mmr, dtype=np.float64)
    if np.any((m < 0) | (m >= 1)):
        raise ValueError("mmr must be in [0, 1)")
    cum = np.asarray(maint_amount, dtype=np.float64)
    if quantity is None:
        if np.any(cum != 0):
            raise ValueError("a maintenance amount needs the position quantity")
        per_unit = np.float64(0.0)
    else:
        q = np.asarray(quantity, dtype=np.float64)
        if np.any(~(q > 0)):
            raise ValueError("quantity must be positive")
        per_unit = cum / q
    sign = 1.0 if side == "long" else -1.0
    if exchange == "okx":
        m = m + OKX_TAKER_FEE
    if form == "linear":
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
) -> float:
    """Liquidation price of one isolated position (margin = initial margin).

    `side` is "long" or "short"; `mmr=None` uses the exchange's tier-1 rate; `maint_amount` is
    Binance's maintenance amount (cum) or Bybit's maintenance deduction and needs `quantity`
    (base units). Example: liquidation_price("bybit", "long", 20_000, 50, mmr=0.005) == 19_700.
    """
    result = liquidation_prices(
        exchange, side, entry, leverage, mmr=mmr, maint_amount=maint_amount, quantity=quantity
    )
    return float(result)


def binance_bracket_for(notional_usd: float, brackets: tuple[Bracket, ...]) -> Bracket:
    for bracket in brackets:
        if notional_usd <= bracket.notional_cap:
            return bracket
    return brackets[-1]


def binance_liquidation_price(
    side: str,
    entry: float,
    leverage: float,
    quantity: float,
    brackets: tuple[Bracket, ...] = BINANCE_BTCUSDT_BRACKETS,
) -> float:
    """Binance isolated liquidation price with the bracket *at the liquidation notional*.

    Binance's FAQ: compute with the bracket of the position, and recalculate if the notional at
    the liquidation price falls in another bracket. Iterates until the bracket is consistent.
    """
    bracket = binance_bracket_for(entry * quantity, brackets)
    price = entry
    for _ in range(len(brackets) + 1):
        price = liquidation_price(
            "binance",
            side,
            entry,
            leverage,
            mmr=bracket.mmr,
            maint_amount=bracket.maint_amount,
            quantity=quantity,
        )
        at_liq = binance_bracket_for(price * quantity, brackets)
        if at_liq == bracket:
            break
        bracket = at_liq
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


def trigger_from_bankruptcy(exchange: str, side: str, bankruptcy: float) -> float:
    """Trigger-equivalent price of a print reported at its bankruptcy price (models.md §4.5).

    Ignoring fees and maintenance amounts, a long's bankruptcy price is EP(1 − 1/L) and its
    trigger EP(1 − 1/L)/(1 − m): the trigger lies the maintenance rate toward the market.
    """
    m = TIER1_MMR[exchange] + (OKX_TAKER_FEE if exchange == "okx" else 0.0)
    return bankruptcy / (1.0 - m) if side == "long" else bankruptcy / (1.0 + m)
