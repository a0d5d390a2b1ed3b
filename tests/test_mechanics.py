"""Liquidation prices against the exchanges' worked examples and hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from liqtui.model.mechanics import (
    BINANCE_BTCUSDT_BRACKETS,
    binance_liquidation_price,
    liquidation_price,
    liquidation_prices,
)


def test_bybit_worked_example() -> None:
    # Bybit help centre: 1 BTC long at 20,000, 50x, MMR 0.5% liquidates at 19,700.
    assert liquidation_price("bybit", "long", 20_000, 50, mmr=0.005) == pytest.approx(19_700)


def test_bybit_short_and_deduction() -> None:
    # short: EP(1 + 1/L - MMR) + deduction/Q = 20000 * 1.015 + 100/2
    assert liquidation_price("bybit", "short", 20_000, 50, mmr=0.005) == pytest.approx(20_300)
    got = liquidation_price("bybit", "short", 20_000, 50, mmr=0.01, maint_amount=100, quantity=2)
    assert got == pytest.approx(20_000 * (1 + 0.02 - 0.01) + 50)


def test_binance_tier1_matches_hand_computation() -> None:
    # Tier 1: MMR 0.4%, cum 0. long LP = EP(1 - 1/L)/(1 - MMR); short EP(1 + 1/L)/(1 + MMR)
    assert liquidation_price("binance", "long", 100_000, 100) == pytest.approx(99_000 / 0.996)
    assert liquidation_price("binance", "short", 100_000, 100) == pytest.approx(101_000 / 1.004)
    # models.md §4.1 table: 100x long is 0.60% below entry, not 1%.
    assert 1 - liquidation_price("binance", "long", 100_000, 100) / 100_000 == pytest.approx(
        0.0060, abs=5e-5
    )


def test_binance_maintenance_amount() -> None:
    # 50 BTC 20x long, bracket 2.5% / cum 16,300 (models.md §4.1): (95,000 − 326)/0.975 = 97,101.5
    got = liquidation_price(
        "binance", "long", 100_000, 20, mmr=0.025, maint_amount=16_300, quantity=50
    )
    assert got == pytest.approx((95_000 - 16_300 / 50) / 0.975)
    assert got == pytest.approx(97_101.54, abs=0.01)


def test_binance_bracket_at_liquidation_notional() -> None:
    # $5M notional lies in the 3M–20M bracket (2.5%, cum 46,300) at entry and at liquidation.
    got = binance_liquidation_price("long", 100_000, 20, 50, BINANCE_BTCUSDT_BRACKETS)
    assert got == pytest.approx((95_000 - 46_300 / 50) / 0.975)
    # A tiny position stays in tier 1.
    small = binance_liquidation_price("short", 100_000, 50, 0.01)
    assert small == pytest.approx(liquidation_price("binance", "short", 100_000, 50))


def test_okx_includes_taker_fee() -> None:
    # OKX: LP = EP(1 - 1/L)/(1 - MMR - fee), tier-1 MMR 0.4%, taker 0.05%.
    assert liquidation_price("okx", "long", 100_000, 100) == pytest.approx(99_000 / 0.9955)
    assert liquidation_price("okx", "short", 100_000, 10) == pytest.approx(110_000 / 1.0045)


def test_hyperliquid_half_of_max_leverage() -> None:
    # MMR = 1/(2 × 40) = 1.25% for a 40x-max asset; same form as Binance with cum = 0.
    assert liquidation_price("hyperliquid", "long", 100_000, 20) == pytest.approx(
        95_000 / (1 - 0.0125)
    )
    assert liquidation_price("hyperliquid", "short", 100_000, 20, mmr=0.025) == pytest.approx(
        105_000 / 1.025
    )


@pytest.mark.parametrize("exchange", ["binance", "bybit", "okx", "hyperliquid"])
@pytest.mark.parametrize("leverage", [2, 5, 10, 25, 40])
def test_longs_below_entry_shorts_above(exchange: str, leverage: int) -> None:
    entry = 3_400.0
    long_lp = liquidation_price(exchange, "long", entry, leverage)
    short_lp = liquidation_price(exchange, "short", entry, leverage)
    assert 0 < long_lp < entry < short_lp
    # Maintenance margin pulls the level toward entry: closer than the naive ±1/L.
    assert long_lp > entry * (1 - 1 / leverage)
    assert short_lp < entry * (1 + 1 / leverage)


def test_vectorised_matches_scalar() -> None:
    entries = np.array([90_000.0, 100_000.0, 110_000.0])
    levs = np.array([[10.0], [50.0]])
    grid = liquidation_prices("binance", "long", entries[None, :], levs)
    assert grid.shape == (2, 3)
    assert grid[1, 2] == pytest.approx(liquidation_price("binance", "long", 110_000, 50))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exchange": "kraken"}, "unknown exchange"),
        ({"side": "buy"}, "side must be"),
        ({"entry": 0.0}, "entry price"),
        ({"leverage": 0.5}, "leverage"),
        ({"mmr": 1.5}, "mmr"),
        ({"maint_amount": 10.0}, "quantity"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"exchange": "binance", "side": "long", "entry": 100.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        liquidation_price(
            str(args["exchange"]),
            str(args["side"]),
            float(args["entry"]),  # type: ignore[arg-type]
            float(kwargs.get("leverage", 10.0)),  # type: ignore[arg-type]
            mmr=kwargs.get("mmr"),  # type: ignore[arg-type]
            maint_amount=float(kwargs.get("maint_amount", 0.0)),  # type: ignore[arg-type]
        )
