"""Building the app from settings and flags (used by `liqtui` without a subcommand).

`prepare_terminal` must run before anything imports Textual: it turns `--color` / [general]
color / NO_COLOR into Textual's environment. `make_app` imports the app afterwards.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from liqtui.ui.terminal import apply_color_setup, color_setup

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.feeds.base import Source
    from liqtui.model.engine import Engine
    from liqtui.ui.app import LiqApp


def prepare_terminal(settings: Settings, args: argparse.Namespace) -> str | None:
    """Set up colors for Textual; the theme to use instead of the configured one, if any."""
    import os

    mode = getattr(args, "tui_color", None) or settings.general.color
    setup = color_setup(mode, os.environ, theme_given=bool(getattr(args, "theme", None)))
    apply_color_setup(setup)
    return setup.theme


def make_app(
    settings: Settings,
    args: argparse.Namespace,
    engine: Engine,
    source: Source | None,
    *,
    theme_override: str | None = None,
) -> LiqApp:
    from liqtui.config import load_settings, user_themes_dir
    from liqtui.ui.app import LiqApp, rules_from_settings

    g = settings.general
    config_file = getattr(args, "config", None)
    return LiqApp(
        engine,
        source,
        watchlist=args.symbol or g.watchlist,
        fps=getattr(args, "fps", None) or g.fps,
        theme=getattr(args, "theme", None) or theme_override or g.theme,
        realized_mark_usd=settings.ladder.realized_mark_usd,
        window_ms=getattr(args, "window", None),
        user_themes_dir=user_themes_dir(settings),
        ladder_span_pct=settings.ladder.span_pct,
        view=getattr(args, "view", None) or g.view,
        color_scale=g.color_scale,
        absolute_top_usd=g.absolute_top_usd,
        keymap=settings.keys,
        alerts=rules_from_settings(settings),
        screenshot_dir=Path(g.screenshot_dir).expanduser() if g.screenshot_dir else None,
        settings_loader=lambda: load_settings(config_file),
    )
