"""The role → Rich `Style` palette shared by the TUI and the ANSI printer, and its data:
liqtui's semantic colors and their defaults, the default theme's name, the roles of the
current-price band.

No Textual here: colors are read through the parser the caller passes (`liqtui.ui.themes` passes
Textual's, whose colors blend as the TUI's do), and resolving a theme by name is the UI's
(`liqtui.ui.themes.ansi_palette`). The printers take the finished palette as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

from rich.style import Style

from liqtui.output.ladder import LEVELS

if TYPE_CHECKING:
    from rich.color import Color as RichColor

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
    # One color per exchange (the cumulative map stacks them): apart from the side colors.
    "liq-ex-binance": "#f0b90b",
    "liq-ex-bybit": "#b48ead",
    "liq-ex-okx": "#e5e9f0",
    "liq-ex-hyperliquid": "#4fd1c5",
}
# Exchanges with a color of their own: role "exchange-<id>", variable "liq-ex-<id>".
EXCHANGE_COLORS: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid")

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


class Colour(Protocol):
    """What the palette needs of a color (`textual.color.Color` has it)."""

    @property
    def ansi(self) -> int | None: ...  # a terminal palette color (cannot blend)

    @property
    def brightness(self) -> float: ...

    @property
    def rich_color(self) -> RichColor: ...

    def blend(self, destination: Self, factor: float) -> Self: ...


C = TypeVar("C", bound=Colour)


def _color(
    variables: Mapping[str, str], name: str, fallback: str, parse: Callable[[str], C | None]
) -> C:
    chosen = parse(variables.get(name) or fallback)
    if chosen is None:
        chosen = parse(fallback)
    if chosen is None:
        raise ValueError(f"{fallback!r} is not a color")
    return chosen


def heat_ramp(low: C, high: C, levels: int = LEVELS) -> list[tuple[C, C]]:
    """(glyph color, cell background) per level 1..levels: the glyph climbs from near the
    low end to the side color; the background is a dimmer step of the same ramp."""
    ramp = []
    for level in range(1, levels + 1):
        t = level / levels
        fg = low.blend(high, 0.30 + 0.70 * t)
        bg = low.blend(high, 0.35 * t * t)
        ramp.append((fg, bg))
    return ramp


def build_palette(
    variables: Mapping[str, str],
    parse: Callable[[str], C | None],
    base: Style | None = None,
    *,
    monochrome: bool = False,
) -> dict[str, Style]:
    """Rich styles for every role the ladder, its header, the status bar and the ANSI printer
    use.

    `variables` are the app's theme variables (Textual's generated ones plus liq-*), read with
    `parse` (Textual's color parser, None for what it cannot read: the default is used); `base` is
    the widget's own style (its background), laid under every role. A theme in ANSI colors (the
    terminal's own palette, `Theme(ansi=True)`) cannot blend colors: its heat levels keep the
    side's color and carry intensity in the glyphs, dim for the low levels and bold for the top.
    `monochrome` (`--color none`, NO_COLOR): the same attributes with no color at all, so text
    is in the terminal's own foreground on its own background and intensity is in the glyphs.
    """
    d = LIQ_VARIABLE_DEFAULTS

    def var(name: str, fallback: str) -> C:
        return _color(variables, name, fallback, parse)

    background = var("background", "#0d1117")
    foreground = var("foreground", "#d8dee9")
    long_c = var("liq-long", d["liq-long"])
    short_c = var("liq-short", d["liq-short"])
    low = var("liq-heat-low", d["liq-heat-low"])
    realized = var("liq-realized", d["liq-realized"])
    price = var("liq-price", d["liq-price"])
    stale = var("liq-stale", d["liq-stale"])
    warning = var("liq-warning", d["liq-warning"])
    error = var("error", "#ff5c5c")
    primary = var("primary", "#4f9cf9")
    success = var("success", "#3ddc84")
    ansi = monochrome or any(c.ansi is not None for c in (background, foreground, long_c, short_c))

    def style(
        fg: C | None = None,
        bg: C | None = None,
        *,
        bold: bool | None = None,
        dim: bool | None = None,
        reverse: bool | None = None,
    ) -> Style:
        if monochrome:
            return Style(bold=bold, dim=dim, reverse=reverse)
        return Style(
            color=fg.rich_color if fg is not None else None,
            bgcolor=bg.rich_color if bg is not None else None,
            bold=bold,
            dim=dim,
            reverse=reverse,
        )

    if ansi:
        muted_style = Style(dim=True)
        axis_style = Style(dim=True)
        price_row = style(price, reverse=True, bold=True)
        band = Style(reverse=True)
        band_color = style(price)
    else:
        muted = foreground.blend(background, 0.40)
        muted_style = style(muted)
        axis_style = style(foreground.blend(background, 0.65))
        price_bg = price.blend(background, 0.45)
        price_fg = background if price_bg.brightness > 0.5 else foreground
        price_row = style(price_fg, price_bg, bold=True)
        band = Style(bgcolor=price_bg.rich_color)
        band_color = Style()
    palette: dict[str, Style] = {
        "empty": Style(),
        "text": style(foreground),
        "label": muted_style,
        "axis": axis_style,
        "muted": muted_style,
        "price-row": price_row,
        "price": style(price, bold=True),
        "est-long": style(long_c),
        "est-short": style(short_c),
        "long": style(long_c),
        "short": style(short_c),
        "long-big": style(long_c, bold=True),  # the tape's large prints
        "short-big": style(short_c, bold=True),
        "realized": style(realized),
        "realized-long": style(realized),
        "realized-short": style(realized),
        "realized-long-big": style(realized, bold=True),
        "realized-short-big": style(realized, bold=True),
        "symbol": style(primary, bold=True),
        "paused": style(background, warning, bold=True)
        if not ansi
        else style(warning, reverse=True, bold=True),
        "stale": style(stale),
        "stale-badge": style(background, warning, bold=True)
        if not ansi
        else style(warning, reverse=True, bold=True),
        "warning": style(warning),
        "error": style(error, bold=True),
        "ok": style(success),
        "message": muted_style + Style(italic=True),
        "cursor": Style(reverse=True, bold=True),
        "cursor-mark": style(warning, bold=True),
        "heading": style(primary, bold=True),
        "good": style(success, bold=True),
        "amber": style(warning, bold=True),
        "bad": style(error, bold=True),
    }
    for name in EXCHANGE_COLORS:
        default = d[f"liq-ex-{name}"]
        palette[f"exchange-{name}"] = style(var(f"liq-ex-{name}", default))
    # The price row is one highlighted band: its non-heat cells get the price background.
    for role in PRICE_BAND_ROLES:
        palette[f"{role}{PRICE_BAND}"] = palette[role] + band_color + band
    for side, color in (("long", long_c), ("short", short_c)):
        if ansi:
            palette[f"{side}0"] = Style(dim=True)
            for level in range(1, LEVELS + 1):
                palette[f"{side}{level}"] = style(
                    color, dim=level <= LEVELS // 4, bold=level > 3 * LEVELS // 4
                )
        else:
            palette[f"{side}0"] = style(low)
            for level, (fg, bg) in enumerate(heat_ramp(low, color), start=1):
                palette[f"{side}{level}"] = style(fg, bg)
    if base is not None and not monochrome:  # monochrome: not even the widget's background
        palette = {role: base + s for role, s in palette.items()}
    return palette
