"""The model's named choices (leverage tiers, presets, filters, OI rules): plain data without
numpy, so the settings and `--help` can list them without loading the model."""

from __future__ import annotations

LEVERAGE_TIERS: tuple[int, ...] = (2, 5, 10, 25, 50, 100)
PRESETS: dict[str, dict[int, float]] = {
    # models.md §5.3. "high" is Coinglass-like; "observed-low" follows Hyperliquid's Dec 2025 split.
    "high": {10: 0.30, 25: 0.30, 50: 0.25, 100: 0.15},
    "balanced": {5: 0.15, 10: 0.30, 25: 0.25, 50: 0.20, 100: 0.10},
    "observed-low": {2: 0.35, 5: 0.45, 10: 0.12, 25: 0.05, 50: 0.03},
}
# The preset `liqtui calibrate --fit --write` fits per market (liqtui.fitted); a market without
# a fit uses the config's `fitted_weights`, else DEFAULT_FITTED_WEIGHTS.
FITTED = "fitted"
# Defaults of the fitted parameters for a market nobody fitted: docs/model.md, "Fitted
# parameters", gives the fit on the development set (BTC, 1 h bars) that chose them.
# The fit moved neither the mix ("high": balanced scored the same, observed-low far worse) nor
# the half-life (6 h to 16 d within 0.002); it set the turnover (0 → 0.03: +0.18 on the
# training windows, +0.10 out of sample).
DEFAULT_FITTED_WEIGHTS: tuple[float, ...] = (0.0, 0.0, 0.30, 0.30, 0.25, 0.15)
DEFAULT_HALF_LIFE_MS = 12 * 3_600_000
DEFAULT_TURNOVER = 0.03  # share of open interest changing hands per hour
# The tier filter: every tier ("all"), the tiers from one up ("25x+"), or one tier alone ("25x").
TIER_FILTERS: tuple[str, ...] = (
    "all",
    *(f"{t}x+" for t in LEVERAGE_TIERS[1:-1]),
    *(f"{t}x" for t in LEVERAGE_TIERS),
)


def filter_tiers(tier_filter: str) -> tuple[int, ...]:
    """The leverage tiers a tier filter keeps ("25x+" → 25, 50, 100); ValueError if unknown."""
    if tier_filter not in TIER_FILTERS:
        raise ValueError(f"unknown tier filter {tier_filter!r}")
    if tier_filter == "all":
        return LEVERAGE_TIERS
    if tier_filter.endswith("+"):
        low = int(tier_filter[:-2])
        return tuple(t for t in LEVERAGE_TIERS if t >= low)
    return (int(tier_filter[:-1]),)


OI_DECREASE_RULES: tuple[str, ...] = ("side-aware", "proportional", "survival-only")
