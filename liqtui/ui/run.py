"""Building the app from settings and flags (used by `liqtui` without a subcommand).

`prepare_terminal` must run before anything imports Textual: it turns `--color` / [general]
color / NO_COLOR into Textual's environment. `start_options` (which checks the theme) and
`make_app` import Textual afterwards.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from liqtui.ui.terminal import apply_color_setup, color_setup

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.feeds.base import Source
    from liqtui.model.engine import Engine
    from liqtui.ui.app import LiqApp
    from liqtui.ui.options import AppOptions


def prepare_terminal(settings: Settings, args: argparse.Namespace) -> str | None:
    """Set up colors for Textual; the theme to use instead of the configured one, if any."""
    import os

    mode = getattr(args, "tui_color", None) or settings.general.color
    setup = color_setup(mode, os.environ, theme_given=bool(getattr(args, "theme", None)))
    apply_color_setup(setup)
    return setup.theme


def start_options(
    settings: Settings, args: argparse.Namespace, *, theme_override: str | None = None
) -> AppOptions:
    """The options the TUI starts with (settings, then flags). Raises UnknownThemeError (a
    ConfigError: exit 2) when the theme asked for, or the configured one, does not exist."""
    from liqtui.ui.options import AppOptions
    from liqtui.ui.themes import available_themes, pick_theme

    options = AppOptions.from_settings(settings, args, theme_override=theme_override)
    themes = available_themes(options.user_themes_dir)[0]
    for name in dict.fromkeys((options.theme, settings.general.theme)):
        pick_theme(themes, name)
    return options


def make_app(
    options: AppOptions,
    args: argparse.Namespace,
    engine: Engine,
    source: Source | None,
    *,
    theme_override: str | None = None,
) -> LiqApp:
    """The app with `options`; ctrl+r maps the config files (and the same flags) again."""
    from liqtui.config import load_settings
    from liqtui.ui.app import LiqApp
    from liqtui.ui.options import AppOptions

    config_file = getattr(args, "config", None)
    app = LiqApp(
        engine,
        source,
        **options.app_kwargs(),  # type: ignore[arg-type]
        options_loader=lambda: AppOptions.from_settings(
            load_settings(config_file), args, theme_override=theme_override
        ),
    )
    _use_terminal_driver(app)
    return app


def _use_terminal_driver(app: LiqApp) -> None:
    """Textual's Linux driver, replaced by one that survives a closed terminal."""
    from textual.drivers.linux_driver import LinuxDriver

    from liqtui.ui.driver import TerminalDriver

    if app.driver_class is LinuxDriver:  # not a test's headless driver, nor Windows
        app.driver_class = TerminalDriver
