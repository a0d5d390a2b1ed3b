"""liqtui: a terminal monitor for crypto perpetual-swap liquidations."""

__version__ = "0.1.0"
