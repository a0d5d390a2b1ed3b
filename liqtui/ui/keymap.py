"""The ids of liqtui's key bindings, for the [keys] table of the config (binding id → keys).

Kept free of Textual so the config loader can check a user's [keys] table without importing
the UI. `liqtui.ui.app.LiqApp.BINDINGS` uses exactly these ids (a test checks both ways).
"""

from __future__ import annotations

import re

BINDING_IDS: tuple[str, ...] = (
    "quit",
    "quit_ctrl_c",
    "help",
    "command_palette",
    "pause",
    "faster",
    "slower",
    "next_symbol",
    "previous_symbol",
    *(f"slot_{n}" for n in range(1, 10)),
    "pick_market",
    "cursor_up",
    "cursor_down",
    "page_up",
    "page_down",
    "top",
    "bottom",
    "recentre",
    "zoom_in",
    "zoom_out",
    "preset",
    "tier_filter",
    "exchange_filter",
    "next_view",
    "chart_mode",
    "color_scale",
    "theme",
    "reload",
    "screenshot",
    "escape",
)

# A key list as Textual writes it: "q", "ctrl+c", "question_mark,f1", "shift+tab".
_KEYS_RE = re.compile(r"^[A-Za-z0-9_+\-]+(,[A-Za-z0-9_+\-]+)*$")


def check_keymap(keymap: dict[str, object]) -> str | None:
    """The first problem in a [keys] table (id → "key,key"), or None."""
    for binding_id, keys in keymap.items():
        if binding_id not in BINDING_IDS:
            return f"keys.{binding_id}: unknown binding id (known: {', '.join(BINDING_IDS)})"
        if not isinstance(keys, str) or not _KEYS_RE.match(keys.replace(" ", "")):
            return f'keys.{binding_id}: expected keys like "p" or "ctrl+r,f5", got {keys!r}'
    return None
