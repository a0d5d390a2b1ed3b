"""`liqtui` without a command: the terminal UI. The runner that wires feeds → engine → app.

`prepare_terminal` must run before anything imports Textual: it turns `--color` / [general]
color / NO_COLOR into Textual's environment. Textual is imported afterwards, lazily, and only
from here: the other commands import no Textual (`snapshot --format svg/ansi` asks this module
for the app's options and screen).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from liqtui.commands.common import (
    EXIT_IOERR,
    EXIT_OK,
    ScreenOptions,
    SourceOptions,
    make_engine,
    make_source,
    open_recorder,
    recording_failed,
)

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.feeds.recording import Recorder
    from liqtui.model.engine import Engine
    from liqtui.source import Source
    from liqtui.ui.app import LiqApp
    from liqtui.ui.options import AppOptions


@dataclass(frozen=True, slots=True)
class TuiOptions:
    """`liqtui [flags]`: the source, the screen, and the config file a reload reads again."""

    source: SourceOptions
    screen: ScreenOptions
    config: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> TuiOptions:
        return cls(
            source=SourceOptions.from_args(args, settings),
            screen=ScreenOptions.from_args(args, settings),
            config=args.config,
        )


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run(TuiOptions.from_args(args, settings), settings)


def run(options: TuiOptions, settings: Settings) -> int:
    """Run the app over the source until it exits; the exit status."""
    from liqtui.ui.lifecycle import Lifecycle

    theme = prepare_terminal(options.screen)  # colors: before anything imports Textual
    app_options = start_options(settings, options.screen, theme_override=theme)  # bad theme: 2
    engine = make_engine(settings, options.source)
    # SIGHUP, a hung-up terminal or SIGTERM: the app exits (129, 143); if Textual cannot,
    # the recording is closed and the process ends anyway (docs/tui.md).
    lifecycle = Lifecycle()
    lifecycle.install()
    recorder: Recorder | None = None
    try:
        recorder = open_recorder(options.source)
        if recorder is not None:
            lifecycle.add_closer(recorder.close)
        source = make_source(settings, options.source, headless=False, recorder=recorder)
        app = make_app(app_options, options, engine, source, theme_override=theme)
        preload = getattr(source, "preload", None)
        if preload is not None:  # live: the store is closed (flushed) on every way out
            lifecycle.add_closer(preload.close_store)
            preload.warn = lambda message: app.notify(
                message, title="store", severity="warning", timeout=30
            )
        try:
            app.run()
        finally:
            lifecycle.close_all()
    finally:
        lifecycle.uninstall()
    if lifecycle.status:
        return lifecycle.status
    if recording_failed(recorder):  # the status line said so; the terminal is back now
        return app.return_code or EXIT_IOERR
    return app.return_code or EXIT_OK


def prepare_terminal(screen: ScreenOptions) -> str | None:
    """Set up colors for Textual; the theme to use instead of the configured one, if any."""
    import os

    from liqtui.ui.terminal import apply_color_setup, color_setup

    setup = color_setup(screen.color, os.environ, theme_given=bool(screen.theme))
    apply_color_setup(setup)
    return setup.theme


def start_options(
    settings: Settings, screen: ScreenOptions, *, theme_override: str | None = None
) -> AppOptions:
    """The options the TUI starts with (settings, then flags). Raises UnknownThemeError (a
    ConfigError: exit 2) when the theme asked for, or the configured one, does not exist."""
    from liqtui.ui.options import AppOptions
    from liqtui.ui.themes import available_themes, pick_theme

    options = AppOptions.from_settings(settings, screen.app_flags(), theme_override=theme_override)
    themes = available_themes(options.user_themes_dir)[0]
    for name in dict.fromkeys((options.theme, settings.general.theme)):
        pick_theme(themes, name)
    return options


def make_app(
    app_options: AppOptions,
    options: TuiOptions,
    engine: Engine,
    source: Source | None,
    *,
    theme_override: str | None = None,
) -> LiqApp:
    """The app with `app_options`; ctrl+r maps the config files (and the same flags) again."""
    from liqtui.config import load_settings
    from liqtui.ui.app import LiqApp
    from liqtui.ui.options import AppOptions

    flags = options.screen.app_flags()
    app = LiqApp(
        engine,
        source,
        app_options,
        options_loader=lambda: AppOptions.from_settings(
            load_settings(options.config), flags, theme_override=theme_override
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


async def render_svg(
    engine: Engine, settings: Settings, screen: ScreenOptions, symbol: str, size: tuple[int, int]
) -> str:
    """The TUI's own screen as SVG: the app, without a source, drawn headless over the engine,
    with the options the TUI would start with (view, color scale, theme, ...)."""
    import dataclasses

    from liqtui.ui.app import LiqApp

    options = dataclasses.replace(start_options(settings, screen), watchlist=(symbol,))
    app = LiqApp(engine, None, options)
    async with app.run_test(headless=True, size=size) as pilot:
        await pilot.pause()
        return app.export_screenshot(title=f"liqtui {symbol}")
