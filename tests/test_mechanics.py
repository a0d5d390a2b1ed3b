"""Liquidation prices against the exchanges' worked examples and hand computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from liqtui.model.mechanics import (
    Bracket,
    TierDataError,
    TierTable,
    liquidation_price,
    liquidation_prices,
    load_tier_tables,
    model_level_factors,
    parse_tier_tables,
    shipped_tier_tables,
    tiered_liquidation_price,
)

# Binance USDⓈ-M BTCUSDT brackets (shipped data, see liqtui/data/brackets.toml).
BINANCE_BTCUSDT_BRACKETS = shipped_tier_tables().table("binance", "BTC").tiers


def binance_liquidation_price(
    side: str,
    entry: float,
    leverage: float,
    quantity: float,
    brackets: tuple[Bracket, ...] = BINANCE_BTCUSDT_BRACKETS,
) -> float:
    """Binance isolated liquidation price with the bracket *at the liquidation notional*."""
    table = TierTable("binance", "BTC", brackets)
    return tiered_liquidation_price("binance", side, entry, leverage, quantity, table)


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


# -- exchange-exact levels through the tier tables (issue 5) ------------------------------------


def test_bybit_worked_example_through_the_tier_table() -> None:
    # 1 BTC at 20,000 = $20k: Bybit BTCUSDT tier 1 (MMR 0.5%, no deduction) → 19,700.
    assert liquidation_price("bybit", "long", 20_000, 50, quantity=1.0) == pytest.approx(19_700)
    assert liquidation_price("bybit", "short", 20_000, 50, quantity=1.0) == pytest.approx(20_300)


def test_binance_tier1_through_the_bracket_table() -> None:
    # 0.1 BTC at 100,000 = $10k: tier 1, MMR 0.4%, cum 0.
    long_lp = liquidation_price("binance", "long", 100_000, 125, quantity=0.1)
    assert long_lp == pytest.approx(100_000 * (1 - 1 / 125) / 0.996)  # 99,598.39
    short_lp = liquidation_price("binance", "short", 100_000, 125, quantity=0.1)
    assert short_lp == pytest.approx(100_000 * (1 + 1 / 125) / 1.004)  # 100,398.41
    table = shipped_tier_tables().table("binance", "BTC")
    assert table.tiers[0] == Bracket(50_000, 125, 0.004, 0.0)
    assert table.verified and table.source and table.date


def test_binance_bracket_is_the_one_at_the_liquidation_notional() -> None:
    # 0.5005 BTC at 100,000 = $50,050 at entry (bracket 2: 0.5%, cum 50); 100x long.
    # With bracket 2: (99,000 − 50/0.5005)/0.995 = 99,397.09 → notional 49,748 is bracket 1,
    # so Binance recalculates with bracket 1: 99,000/0.996 = 99,397.59 (stable).
    got = liquidation_price("binance", "long", 100_000, 100, quantity=0.5005)
    assert got == pytest.approx(99_000 / 0.996)
    assert got != pytest.approx((99_000 - 50 / 0.5005) / 0.995, abs=0.1)


def test_binance_large_position_uses_the_maintenance_amount() -> None:
    # 50 BTC 20x long at 100,000: $5M → bracket 4 (2.5%, cum 46,300) at entry and at liquidation.
    got = liquidation_price("binance", "long", 100_000, 20, quantity=50)
    assert got == pytest.approx((95_000 - 46_300 / 50) / 0.975)  # 96,486.15
    short = liquidation_price("binance", "short", 100_000, 20, quantity=50)
    assert short == pytest.approx((105_000 + 46_300 / 50) / 1.025)  # 103,342.44


def test_bybit_deduction_from_a_table() -> None:
    table = TierTable(
        "bybit", "X", (Bracket(1_000_000, 100, 0.005, 0), Bracket(5_000_000, 50, 0.01, 5_000))
    )
    # 20 BTC at 100,000 = $2M → tier 2: LP = EP(1 − 1/L + m) − ded/Q = 100,000·0.97 − 250
    got = liquidation_price("bybit", "long", 100_000, 20, quantity=20, tiers=table)
    assert got == pytest.approx(100_000 * (1 - 0.05 + 0.01) - 5_000 / 20)  # 95,750
    short = liquidation_price("bybit", "short", 100_000, 20, quantity=20, tiers=table)
    assert short == pytest.approx(100_000 * (1 + 0.05 - 0.01) + 5_000 / 20)  # 104,250


def test_okx_tier_by_size_adds_the_taker_fee() -> None:
    table = TierTable(
        "okx", "X", (Bracket(10, 100, 0.004, 0), Bracket(100, 50, 0.006, 0)), cap_unit="base"
    )
    # 5 BTC: tier 1 (0.4% + 0.05% fee); 20 BTC: tier 2 (0.6% + 0.05%).
    small = liquidation_price("okx", "long", 100_000, 10, quantity=5, tiers=table)
    assert small == pytest.approx(90_000 / (1 - 0.0045))  # 90,406.83
    big = liquidation_price("okx", "short", 100_000, 10, quantity=20, tiers=table)
    assert big == pytest.approx(110_000 / (1 + 0.0065))  # 109,289.62


def test_hyperliquid_mmr_is_half_the_initial_margin_at_max_leverage() -> None:
    # ETH: 25x max → MMR 2%; BTC: 40x → 1.25%.
    eth = liquidation_price("hyperliquid", "long", 3_000, 10, symbol="ETH")
    assert eth == pytest.approx(3_000 * 0.9 / 0.98)  # 2,755.10
    btc = liquidation_price("hyperliquid", "short", 100_000, 20, quantity=0.1)
    assert btc == pytest.approx(105_000 / 1.0125)  # 103,703.70


def test_every_exchange_both_sides_hand_computed_at_entry_100k_10x() -> None:
    expected = {
        ("binance", "long"): 90_000 / 0.996,
        ("binance", "short"): 110_000 / 1.004,
        ("bybit", "long"): 100_000 * (1 - 0.1 + 0.005),
        ("bybit", "short"): 100_000 * (1 + 0.1 - 0.005),
        ("okx", "long"): 90_000 / (1 - 0.0045),
        ("okx", "short"): 110_000 / (1 + 0.0045),
        ("hyperliquid", "long"): 90_000 / (1 - 0.0125),
        ("hyperliquid", "short"): 110_000 / (1 + 0.0125),
    }
    for (exchange, side), price in expected.items():
        got = liquidation_price(exchange, side, 100_000, 10, quantity=0.1)
        assert got == pytest.approx(price), (exchange, side)


def test_model_factors_cap_leverage_at_the_tier_maximum() -> None:
    table = shipped_tier_tables().table("hyperliquid", "BTC")
    factors, used = model_level_factors(
        "hyperliquid", (10.0, 50.0, 100.0), table, position_usd=10_000, price=100_000
    )
    assert used == (10.0, 40.0, 40.0)
    assert factors[0, 1] == pytest.approx((1 - 1 / 40) / (1 - 0.0125))
    binance = shipped_tier_tables().table("binance", "BTC")
    f, _ = model_level_factors("binance", (100.0,), binance, position_usd=10_000, price=100_000)
    assert f[0, 0] * 100_000 == pytest.approx(liquidation_price("binance", "long", 100_000, 100))


def test_unknown_market_uses_the_exchange_default() -> None:
    tables = shipped_tier_tables()
    assert tables.table("binance", "PEPE").tiers[0].mmr == 0.004
    assert tables.table("hyperliquid", "PEPE").tiers[0].max_leverage == 10


def test_shipped_tables_are_dated_and_sourced() -> None:
    tables = shipped_tier_tables()
    for (exchange, symbol), t in tables.tables.items():
        assert t.source and t.date and t.checked, (exchange, symbol)
        caps = [b.notional_cap for b in t.tiers]
        assert caps == sorted(caps)
    # Binance cum follows the continuity rule cum_i = cum_{i-1} + floor_i·(mmr_i − mmr_{i-1}).
    b = tables.table("binance", "BTC").tiers
    for prev, cur in itertools.pairwise(b):
        assert cur.maint_amount == pytest.approx(
            prev.maint_amount + prev.notional_cap * (cur.mmr - prev.mmr)
        )


def test_user_tiers_file_overrides_and_bad_files_say_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tiers.toml"
    path.write_text(
        '[[table]]\nexchange = "bybit"\nsymbol = "BTC"\ncap_unit = "usd"\n'
        'source = "test"\ndate = "2026-11-25"\n'
        "tiers = [[1e6, 100, 0.006, 0], [2e6, 50, 0.01, 4000]]\n"
    )
    tables = load_tier_tables(path)
    assert tables.table("bybit", "BTC").tiers[0].mmr == 0.006
    assert tables.table("binance", "BTC").tiers[0].mmr == 0.004  # shipped still there
    with pytest.raises(TierDataError, match="caps must increase"):
        parse_tier_tables(
            {
                "table": [
                    {"exchange": "okx", "symbol": "X", "tiers": [[2, 1, 0.1, 0], [1, 1, 0.1, 0]]}
                ]
            },
            "t",
        )
    with pytest.raises(TierDataError, match="tier is"):
        parse_tier_tables({"table": [{"exchange": "okx", "symbol": "X", "tiers": [[1, 2]]}]}, "t")
    with pytest.raises(ValueError, match="unknown exchange"):
        tables.table("kraken", "BTC")
