"""Terminal color setup, done before Textual is imported (it reads its environment at import).

`--color truecolor|256|16|none` (or [general] color, or NO_COLOR) becomes TEXTUAL_COLOR_SYSTEM
and NO_COLOR for Textual, plus the theme to use when the user did not name one: with 16 colors
or none, the liqtui-ansi theme (the terminal's own palette; with NO_COLOR Textual then drops
every color instead of turning them grey). This module imports nothing from Textual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass

COLOR_MODES = ("auto", "truecolor", "256", "16", "none")
ANSI_THEME = "liqtui-ansi"
_SYSTEMS = {"truecolor": "truecolor", "256": "256", "16": "standard"}


@dataclass(frozen=True, slots=True)
class ColorSetup:
    mode: str  # the effective mode
    color_system: str | None  # for TEXTUAL_COLOR_SYSTEM; None: leave Textual's detection
    no_color: bool
    theme: str | None  # a theme to use instead of the configured one; None: keep it


def color_setup(mode: str, environ: MutableMapping[str, str], *, theme_given: bool) -> ColorSetup:
    """What a color mode means. NO_COLOR (set and not empty) wins over "auto"; an explicit
    --color wins over NO_COLOR. `theme_given`: the user named a theme on the command line."""
    if mode not in COLOR_MODES:
        raise ValueError(f"color {mode!r} is not one of {', '.join(COLOR_MODES)}")
    if mode == "auto" and environ.get("NO_COLOR"):
        mode = "none"
    if mode == "none":
        return ColorSetup(mode, None, True, None if theme_given else ANSI_THEME)
    if mode == "16":
        return ColorSetup(mode, "standard", False, None if theme_given else ANSI_THEME)
    return ColorSetup(mode, _SYSTEMS.get(mode), False, None)


def apply_color_setup(setup: ColorSetup, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the setup into the environment (and into Textual's constants if it is already
    imported, as in tests)."""
    env = os.environ if environ is None else environ
    if setup.color_system is not None:
        env["TEXTUAL_COLOR_SYSTEM"] = setup.color_system
    if setup.no_color:
        env["NO_COLOR"] = "1"
    elif setup.mode != "auto":
        env.pop("NO_COLOR", None)  # an explicit --color beats NO_COLOR
    constants = sys.modules.get("textual.constants")
    if constants is not None and setup.color_system is not None:
        constants.COLOR_SYSTEM = setup.color_system  # type: ignore[attr-defined]
