"""Theme files (themes/*.toml) → Textual `Theme`s, and a theme's role → Rich `Style` palette
in Textual's colors (for the TUI's widgets and, through `ansi_palette`, for `liqtui snapshot
--format ansi`). Which role gets which color is `liqtui.output.palette`.

A theme file holds the fields of `textual.theme.Theme` plus a [variables] table; liqtui's own
semantic colors are the `liq-*` variables. Loading never raises: a file that cannot be used is
reported (path and reason) and skipped, and the built-in "liqtui-dark" is always available.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme

from liqtui.config import ConfigError
from liqtui.output import palette
from liqtui.output.palette import DEFAULT_THEME, LIQ_VARIABLE_DEFAULTS

if TYPE_CHECKING:
    from textual.app import App

# The same values as themes/dark.toml, so liqtui looks right even when that file is broken/missing.
BUILTIN_DARK = Theme(
    name=DEFAULT_THEME,
    dark=True,
    primary="#4f9cf9",
    secondary="#8b95a7",
    accent="#f5a623",
    warning="#f5a623",
    error="#ff5c5c",
    success="#3ddc84",
    foreground="#d8dee9",
    background="#0d1117",
    surface="#131a24",
    panel="#1b2430",
    variables=dict(LIQ_VARIABLE_DEFAULTS),
)

_THEME_FIELDS = {f.name for f in dataclasses.fields(Theme)}
_COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message says why."""


def _check_color(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise ThemeFileError(f"{what} must be a color string, not {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{what}: {value!r} is not a color") from None


def theme_from_dict(data: Mapping[str, object]) -> Theme:
    """Validate a parsed theme file and build the Theme. Raises ThemeFileError."""
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ThemeFileError(f"unknown key(s): {', '.join(unknown)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError("missing 'name'")
    if "primary" not in data:
        raise ThemeFileError("missing 'primary'")
    for key in _COLOR_FIELDS:
        if data.get(key) is not None:
            _check_color(data[key], key)
    for key in ("dark", "ansi"):
        if key in data and not isinstance(data[key], bool):
            raise ThemeFileError(f"{key!r} must be true or false")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int | float)):
            raise ThemeFileError(f"{key!r} must be a number")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError("[variables] must be a table")
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(f"variable {key!r} must be a string")
        if key.startswith("liq-"):
            _check_color(value, f"variable {key!r}")
    theme = Theme(**{**data, "name": name.strip(), "variables": dict(variables)})  # type: ignore[arg-type]
    try:
        theme.to_color_system().generate()
    except Exception as exc:  # Textual's own checks (e.g. a color it cannot blend)
        raise ThemeFileError(f"unusable colors ({exc})") from None
    return theme


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeFileError(f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ThemeFileError("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"not valid TOML ({exc})") from None
    return theme_from_dict(data)


def load_themes(dirs: Iterable[Path | None]) -> tuple[dict[str, Theme], list[str]]:
    """Themes from every *.toml in `dirs` (in order; a later file overrides an earlier one of
    the same name) and one problem line per unusable file or folder."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in dirs:
        if folder is None:
            continue
        try:
            if not folder.is_dir():
                if folder.exists():
                    problems.append(f"{folder}: not a folder")
                continue
            files = sorted(folder.glob("*.toml"))
        except OSError as exc:
            problems.append(f"{folder}: {exc.strerror or exc}")
            continue
        for path in files:
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                problems.append(f"{path}: {exc}")
            else:
                themes[theme.name] = theme
    return themes, problems


class UnknownThemeError(ConfigError):
    """A theme name (flag or config) that no built-in theme, shipped file or user file
    provides: a usage error (exit 2) at start, a notification on reload."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        names = sorted(available, key=lambda n: (not n.startswith("liqtui-"), n))
        super().__init__(f"theme {name!r} is not available; themes: {', '.join(names)}")
        self.name = name


def available_themes(user_themes_dir: Path | None) -> tuple[dict[str, Theme], list[str]]:
    """Every theme the app offers, by name: Textual's own, the built-in liqtui-dark, then the
    shipped theme files and the user's (a later one overrides an earlier one of the same name);
    and one problem line per unusable file."""
    from textual.theme import BUILTIN_THEMES

    from liqtui.resources import data_path

    try:
        shipped: Path | None = data_path("themes")
    except FileNotFoundError:
        shipped = None
    themes: dict[str, Theme] = {**BUILTIN_THEMES, BUILTIN_DARK.name: BUILTIN_DARK}
    files, problems = load_themes([shipped, user_themes_dir])
    themes.update(files)
    return themes, problems


def install_themes(app: App[Any], user_themes_dir: Path | None, wanted: str) -> list[str]:
    """Register every theme with `app` and switch to `wanted` (the default when it is not
    available); notify the problems met, and return them."""
    from textual.theme import BUILTIN_THEMES

    themes, problems = available_themes(user_themes_dir)
    for theme in themes.values():
        if theme is not BUILTIN_THEMES.get(theme.name):  # Textual's own are there already
            app.register_theme(theme)
    if wanted not in app.available_themes:
        problems.append(f"theme {wanted!r} is not available; using {DEFAULT_THEME}")
        wanted = DEFAULT_THEME
    app.theme = wanted
    if problems:
        app.notify(
            "\n".join(problems),
            title="Theme problem" if len(problems) == 1 else "Theme problems",
            severity="warning",
            timeout=12,
            markup=False,
        )
    return problems


def pick_theme(themes: Mapping[str, Theme], name: str | None) -> Theme:
    """The theme called `name` (None: the default); UnknownThemeError if there is none."""
    chosen = themes.get(name or DEFAULT_THEME)
    if chosen is None:
        raise UnknownThemeError(name or DEFAULT_THEME, themes)
    return chosen


# -- palette ------------------------------------------------------------------------------------


def ansi_palette(
    theme: str | None = None, user_themes_dir: Path | None = None, *, monochrome: bool = False
) -> dict[str, Style]:
    """The TUI's role → Style palette for a theme (shipped or user file; default liqtui-dark),
    for `liqtui.output.snapshot.render_ansi`. Raises UnknownThemeError for a theme no file or
    built-in provides.

    No background is laid under the roles: the frame sits on the terminal's own background.
    `monochrome`: attributes only (bold, dim, reverse), no color, as the TUI under NO_COLOR.
    """
    chosen = pick_theme(available_themes(user_themes_dir)[0], theme)
    # The same merge as Textual's App.get_css_variables.
    variables = {
        **LIQ_VARIABLE_DEFAULTS,
        **chosen.to_color_system().generate(),
        **chosen.variables,
    }
    return build_palette(variables, monochrome=monochrome)


def _parse(text: str) -> Color | None:
    try:
        return Color.parse(text)
    except ColorParseError:
        return None


def build_palette(
    variables: Mapping[str, str], base: Style | None = None, *, monochrome: bool = False
) -> dict[str, Style]:
    """Rich styles for every role (`liqtui.output.palette.build_palette`) in Textual's colors:
    `variables` are the app's theme variables, `base` the widget's own style."""
    return palette.build_palette(variables, _parse, base, monochrome=monochrome)
