"""Market names: every spelling of one USDT perpetual is one market."""

from __future__ import annotations

import pytest

from liqtui.markets import SymbolError, exchange_symbol, from_exchange_symbol, market_key


@pytest.mark.parametrize(
    "text", ["BTC", "btc", " BTCUSDT ", "BTC/USDT", "BTC/USDT:USDT", "BTC-USDT-SWAP", "btc-usdt"]
)
def test_spellings_of_btc(text: str) -> None:
    assert market_key(text) == "BTC"


@pytest.mark.parametrize("text", ["", "BTC/USD", "ETH/BTC", "BTC USDT", "B$C", "A" * 30])
def test_not_a_market(text: str) -> None:
    with pytest.raises(SymbolError):
        market_key(text)


def test_exchange_symbols_round_trip() -> None:
    for ex, sym in (("binance", "1000PEPEUSDT"), ("bybit", "ETHUSDT"), ("okx", "SOL-USDT-SWAP")):
        market = from_exchange_symbol(ex, sym)
        assert market is not None and exchange_symbol(ex, market) == sym
    # Binance lists perpetuals whose base is not ASCII.
    assert from_exchange_symbol("binance", "币安人生USDT") == "币安人生"
    assert from_exchange_symbol("binance", "BTCUSDC") is None
    assert from_exchange_symbol("binance", "btcusdt") is None
    assert from_exchange_symbol("binance", 42) is None
    assert from_exchange_symbol("kraken", "XBTUSDT") is None
