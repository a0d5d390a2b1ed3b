"""Theme palette data shared by the TUI and the ANSI printer (no Textual): liqtui's semantic
colors and their defaults, the default theme's name, and the roles of the current-price band.

Turning a theme into Rich styles needs Textual's color system (its parser, blending and the
variables a theme generates), so `build_palette` and `ansi_palette` live in `liqtui.ui.themes`;
the printers take the finished role → Style palette as an argument.
"""

from __future__ import annotations

DEFAULT_THEME = "liqtui-dark"

# liqtui's semantic colors; a theme that leaves some out gets these
# (via App.get_theme_variable_defaults).
LIQ_VARIABLE_DEFAULTS: dict[str, str] = {
    "liq-long": "#26d07c",
    "liq-short": "#ff4d6a",
    "liq-heat-low": "#1b2430",
    "liq-realized": "#ffd166",
    "liq-price": "#4f9cf9",
    "liq-stale": "#8b95a7",
    "liq-warning": "#f5a623",
}

PRICE_BAND = "@price"  # role suffix for cells of the current-price row
PRICE_BAND_ROLES = (
    "empty",
    "axis",
    "label",
    "est-long",
    "est-short",
    "realized-long",
    "realized-short",
    "realized-long-big",
    "realized-short-big",
)
