"""Where the shipped defaults live: inside the installed wheel (liqtui/_data/, put there by the
build) or, in a source checkout, at the top level of the repository."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Path of a shipped file or folder: "config.toml" or "themes"."""
    installed = _PACKAGE / "_data" / name
    if installed.exists():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"liqtui is installed without its {name} (looked in {installed})")
