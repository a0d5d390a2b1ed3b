"""The status area: a Line API widget with one cached Strip per line, redrawn only on change.

`TextLines` is the shared machinery (also used by the ladder's column header): lines are lists
of `Part`s (segments with a priority and an optional shorter form); each line is fitted to the
widget's width by shortening, then dropping, the least important parts, and only lines whose
fitted text changed are refreshed. `status_parts` turns a market snapshot into the two status
lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from liqtui.exchanges import specs as exchange_specs
from liqtui.health import history_progress
from liqtui.model.engine import MarketSnapshot
from liqtui.output.ladder import LONG_MARK, SHORT_MARK, compact_usd, format_price
from liqtui.output.render import (
    FEED_STATE_ROLES,
    LOW_CONFIDENCE,
    format_age,
    format_duration,
    history_text,
    price_decimals,
    price_origin,
)
from liqtui.ui.themes import build_palette

Seg = tuple[str, str]  # (text, role)
STALE_AFTER_MS = 60_000
SEPARATOR = "  "


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a status line: kept in full if it fits, else `short`, else dropped
    (lowest `priority` first). With `shorten_at`, the part is shortened at that (lower) rank
    but dropped only at its `priority`: abbreviated early, kept long."""

    segs: tuple[Seg, ...]
    priority: int = 5
    short: tuple[Seg, ...] | None = None
    shorten_at: int | None = None

    @classmethod
    def of(
        cls,
        text: str,
        role: str = "text",
        priority: int = 5,
        short: str | None = None,
        shorten_at: int | None = None,
    ) -> Part:
        return cls(
            ((text, role),), priority, None if short is None else ((short, role),), shorten_at
        )


def _length(segs: Sequence[Seg]) -> int:
    return sum(len(t) for t, _ in segs)


def fit_line(parts: Sequence[Part], width: int) -> tuple[Seg, ...]:
    """Lay parts out left to right, separated by two spaces, in exactly `width` cells.

    While the line is too wide, the least important part is shortened, then dropped, before the
    next one is touched (the most important part always stays); dropped parts come back if
    they fit after all; whatever is still too wide is cropped on the right."""
    if width <= 0:
        return ()
    chosen: list[tuple[Seg, ...] | None] = [p.segs for p in parts]

    def total() -> int:
        kept = [c for c in chosen if c]
        return sum(_length(c) for c in kept) + len(SEPARATOR) * max(len(kept) - 1, 0)

    order = sorted(range(len(parts)), key=lambda i: (parts[i].priority, -i))
    # Steps in rank order: (rank, -index, 0 = shorten / 1 = drop, index); the most important
    # part is neither shortened nor dropped.
    steps: list[tuple[int, int, int, int]] = []
    for i in order[:-1]:
        part = parts[i]
        if part.short is not None:
            rank = part.priority if part.shorten_at is None else part.shorten_at
            steps.append((rank, -i, 0, i))
        steps.append((part.priority, -i, 1, i))
    dropped: list[int] = []
    for _rank, _neg_i, drop, i in sorted(steps):
        if total() <= width:
            break
        if not drop:
            chosen[i] = parts[i].short
        else:
            chosen[i] = None
            dropped.append(i)
    for i in reversed(dropped):  # most important first
        for form in (parts[i].segs, parts[i].short):
            if form is None:
                continue
            chosen[i] = form
            if total() <= width:
                break
            chosen[i] = None
    out: list[Seg] = []
    for segs in chosen:
        if not segs:
            continue
        if out:
            out.append((SEPARATOR, "empty"))
        out.extend(segs)
    room = width
    cropped: list[Seg] = []
    for text, role in out:
        if room <= 0:
            break
        piece = text[:room]
        cropped.append((piece, role))
        room -= len(piece)
    if room > 0:
        cropped.append((" " * room, "empty"))
    return tuple(cropped)


class ThemedLines(Widget):
    """Base for liqtui's Line API widgets: a role → Style palette built from the theme
    variables (and the widget's own background), dropped with the strip cache on theme change."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._palette: dict[str, Style] | None = None
        self._strip_cache: dict[tuple[Seg, ...], Strip] = {}
        self._shown: list[tuple[Seg, ...]] = []  # the lines on screen, top first

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    def _on_theme_changed(self, _theme: object) -> None:
        self.invalidate_styles()

    def invalidate_styles(self) -> None:
        """Forget the palette and every cached strip; repaint the whole widget."""
        self._palette = None
        self._strip_cache.clear()
        self.refresh()

    @property
    def palette(self) -> dict[str, Style]:
        if self._palette is None:
            self._palette = build_palette(
                self.app.theme_variables, self.rich_style, monochrome=self.app.no_color
            )
        return self._palette

    def strip_for(self, segs: tuple[Seg, ...], width: int) -> Strip:
        """The cached Strip for one line's content (keyed by the segments themselves)."""
        strip = self._strip_cache.get(segs)
        if strip is None:
            if len(self._strip_cache) > 4 * max(self.size.height, 1) + 64:
                self._strip_cache.clear()  # bound the cache; rebuilt on demand
            palette = self.palette
            empty = palette["empty"]
            strip = Strip(
                [Segment(text, palette.get(role, empty)) for text, role in segs if text],
                _length(segs),
            )
            self._strip_cache[segs] = strip
        if strip.cell_length != width:
            return strip.adjust_cell_length(width, self.palette["empty"])
        return strip

    @property
    def rows_text(self) -> list[str]:
        """The lines as shown (plain text), top to bottom, for tests and logs."""
        return ["".join(t for t, _ in segs) for segs in self._shown]

    def repaint_lines(self, lines: list[tuple[Seg, ...]], *, full: bool = False) -> int:
        """Put `lines` on screen, refreshing only those that changed (all of them when `full`,
        when their number changed or when more than half did); how many were refreshed."""
        width, height = self.size.width, self.size.height
        old, self._shown = self._shown, lines
        if full or len(old) != len(lines):
            self.refresh()
            return height
        dirty = [y for y, line in enumerate(lines) if old[y] != line]
        if len(dirty) * 2 > height:
            self.refresh()
        elif dirty:
            self.refresh(*(Region(0, y, width, 1) for y in dirty))
        return len(dirty)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self._shown) or width <= 0:
            return Strip.blank(max(width, 0), self.palette["empty"])
        return self.strip_for(self._shown[y], width)


class TextLines(ThemedLines):
    """A few lines of fitted, styled text; only changed lines are refreshed."""

    def __init__(self, n_lines: int, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.n_lines = n_lines
        self._parts: list[list[Part]] = [[] for _ in range(n_lines)]
        self.last_dirty_lines = 0
        self.total_dirty_lines = 0

    @property
    def lines_text(self) -> list[str]:
        """The lines as currently laid out (plain text, for tests and logs)."""
        return self.rows_text

    def set_lines(self, lines: Sequence[Sequence[Part]]) -> None:
        self._parts = [list(line) for line in lines][: self.n_lines]
        self._layout()

    def _layout(self, full: bool = False) -> None:
        width = self.size.width
        fitted = [fit_line(parts, width) for parts in self._parts]
        if full:
            dirty = list(range(len(fitted)))
        else:
            dirty = [
                y
                for y, segs in enumerate(fitted)
                if y >= len(self._shown) or self._shown[y] != segs
            ]
            dirty.extend(range(len(fitted), len(self._shown)))  # lines that went away
        self._shown = fitted
        self.last_dirty_lines = len(dirty)
        self.total_dirty_lines += len(dirty)
        if full:
            self.refresh()
        elif dirty:
            self.refresh(*(Region(0, y, max(width, 1), 1) for y in dirty))

    def on_resize(self) -> None:
        self._layout(full=True)


# -- the status content ------------------------------------------------------------------------


def _price(snap: MarketSnapshot) -> list[Part]:
    """The price, and where and when it was observed; a stale price is dimmed and badged."""
    if snap.price is None:
        return [Part.of("price —", "muted", 9)]
    text = format_price(snap.price, price_decimals(snap.price))
    age = format_age(snap.price_age_ms or 0)
    if snap.price_stale:
        return [
            Part.of(text, "stale", 9),
            Part(
                ((" STALE ", "stale-badge"), (f" {age} old: {price_origin(snap)}", "stale")),
                8,
                (("STALE", "stale-badge"), (f" {age}", "stale")),
            ),
        ]
    # Fresh: "96,682.6 mark 0s", then the exchanges, which give way first.
    return [
        Part(((text, "price"), (f" {snap.price_source} {age}", "muted")), 9, ((text, "price"),)),
        Part.of("/".join(snap.price_exchanges), "muted", 2),
    ]


# The headless printers' roles, with a connected feed in the TUI's "ok" color.
_FEED_ROLES = {**FEED_STATE_ROLES, "connected": "ok"}


def feed_badges(snap: MarketSnapshot) -> Part:
    """One badge per feed: state, age of its last event, throttled / complete, and its note
    (e.g. "no public liquidation feed") in the long form."""
    feeds: list[Seg] = []
    short: list[Seg] = []
    for f in snap.feeds:
        if feeds:
            feeds.append((", ", "muted"))
            short.append((" ", "muted"))
        role = _FEED_ROLES.get(f.state, "text")
        age = (
            format_age(snap.as_of_ms - f.last_event_ms)
            if f.last_event_ms is not None and snap.as_of_ms >= f.last_event_ms
            else None
        )
        live = f.state in ("connected", "replaying", "simulated")
        if age is not None and live and snap.as_of_ms - (f.last_event_ms or 0) > STALE_AFTER_MS:
            role = "warning"
        feeds.append((f"{f.name} {f.state}", role))
        short.append((f"{f.name[:3]}:{f.state[:4]}", role))
        if age is not None:
            feeds.append((f" {age}", "muted"))
        if f.liquidations_complete is False:
            feeds.append((" (throttled)", "muted"))
            short.append(("*", "muted"))
        elif f.liquidations_complete is True:
            # Each unplanned reconnect may have dropped prints: "complete" says how often.
            gaps = f" {f.reconnects} gap{'s' if f.reconnects != 1 else ''}" if f.reconnects else ""
            feeds.append((f" (complete{gaps})", "warning" if gaps else "muted"))
        remarks = f.remarks()
        if remarks:
            feeds.append((f" [{remarks}]", "warning"))
            short.append(("!", "warning"))
    if not feeds:
        return Part.of("no feeds", "muted", 8)
    return Part(tuple(feeds), 8, tuple(short))


_FAILING = ("down", "reconnecting", "stale", "connecting")
PROBLEM_ERROR_CHARS = 30  # of the last error's reason in the short form (80 columns with R)


def error_reason(error: str) -> str:
    """The reason in an error line, without the request path, "connect failed" or the
    exception's class in front: "Cannot connect to host …"."""
    parts = error.split(": ")
    while len(parts) > 1 and (
        parts[0].startswith("/")
        or parts[0] == "connect failed"
        or parts[0].endswith(("Error", "Exception"))
    ):
        parts.pop(0)
    return ": ".join(parts)


def feed_problem(snap: MarketSnapshot) -> Part | None:
    """Why the selected feed (the exchange filter's, else the first failing one) has no data,
    and when it tries again: "okx down: Cannot connect to host … retry in 4s"."""
    feeds = [f for f in snap.feeds if f.state in _FAILING and f.last_error]
    if snap.exchange_filter is not None:
        feeds = [f for f in feeds if f.name == snap.exchange_filter]
    if not feeds:
        return None
    f = feeds[0]
    error = f.last_error or ""
    retry = ""
    if f.next_retry_ms is not None:
        wait = f.next_retry_ms - snap.as_of_ms
        retry = f" retry in {format_age(wait)}" if wait > 0 else " retrying"
    head = f"{f.name} {f.state}: "
    reason = error_reason(error)
    brief = reason if len(reason) <= PROBLEM_ERROR_CHARS else reason[: PROBLEM_ERROR_CHARS - 1]
    brief += "…" if len(reason) > PROBLEM_ERROR_CHARS else ""
    return Part(
        ((head, "error"), (error, "error"), (retry, "warning")),
        9,
        ((head, "error"), (brief, "error"), (retry, "warning")),
    )


_PRESET_SHORT = {"observed-low": "obs-low"}
_EXCHANGE_SHORT = {spec.id: spec.short for spec in exchange_specs()}


def model_settings(snap: MarketSnapshot) -> Part:
    """The settings that shape the map: leverage preset, tier filter, exchange filter.

    Abbreviated early, dropped only after everything but the symbol: visible at every width
    from 80 columns ("model observed-low · 25x+ only · hyperliquid", "obs-low·25x+·hyperliq")."""
    tiers = "all tiers" if snap.tier_filter == "all" else f"{snap.tier_filter} only"
    exchange = snap.exchange_filter or "all exchanges"
    full = f"model {snap.preset} · {tiers} · {exchange}"
    short = "·".join(
        (
            _PRESET_SHORT.get(snap.preset, snap.preset),
            "all tiers" if snap.tier_filter == "all" else snap.tier_filter,
            "all ex" if snap.exchange_filter is None else _EXCHANGE_SHORT.get(exchange, exchange),
        )
    )
    return Part.of(full, "muted", 9, short=short, shorten_at=4)


def status_parts(
    snap: MarketSnapshot,
    *,
    slot: int | None = None,
    paused: bool = False,
    error: str | None = None,
    view: str | None = None,
    fps: float | None = None,
) -> list[list[Part]]:
    """The two status lines for a snapshot (symbol line, totals/feeds line)."""
    when = datetime.fromtimestamp(snap.as_of_ms / 1000, tz=UTC) if snap.as_of_ms > 0 else None
    label = f"{slot}:{snap.symbol}" if slot is not None else snap.symbol
    first = [Part.of(label, "symbol", 10), *_price(snap)]
    if when is not None:
        first.append(
            Part.of(
                f"as of {when:%Y-%m-%d %H:%M:%S} UTC",
                "muted",
                5,
                short=f"as of {when:%H:%M:%S}",
            )
        )
    first.append(model_settings(snap))
    # How much history the map holds, beside what shapes the map: shortened first ("hist
    # 3.0 h 16%"); a low confidence (a cold start) is a warning, kept longer than the clock,
    # a full map's figure gives way early.
    low = snap.confidence < LOW_CONFIDENCE
    first.append(
        Part.of(
            history_text(snap),
            "warning" if low else "muted",
            7 if low else 3,
            short=history_text(snap, short=True),
            shorten_at=1,
        )
    )
    first.append(Part.of(f"window {format_duration(snap.window_ms)}", "muted", 4))
    if view is not None:
        first.append(Part.of(f"view {view}", "muted", 3, short=view))
    if fps is not None:
        first.append(Part.of(f"{fps:g} fps", "muted", 1))  # gives way to the price origin
    if paused:
        first.append(Part.of(" PAUSED ", "paused", 10, short="PAUSED"))
    if snap.last_event_ms is None:
        first.append(Part.of("no data yet", "stale", 8))

    second: list[Part] = []
    if error:
        second.append(Part.of(f"feed error: {error}", "error", 10))
    for f in snap.feeds:  # "recording FAILED: <file>: <cause>", an unreadable replay file
        if f.state == "failed" and f.last_error:
            second.append(Part.of(f.last_error, "error", 10))
    rl, rs = snap.realized_long_usd, snap.realized_short_usd
    r_segs: tuple[Seg, ...] = (
        ("R ", "realized"),
        (f"{LONG_MARK}{compact_usd(rl)}", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}{compact_usd(rs)}", "short"),
    )
    count = snap.realized_count
    second.append(
        Part(
            (*r_segs, (f" {count} print{'' if count == 1 else 's'}", "muted")),
            9,
            (*r_segs, (f" {count}", "muted")),
        )
    )
    problem = feed_problem(snap)
    if problem is not None:
        second.append(problem)
    if snap.has_estimate:
        el = float(snap.estimated_long.sum())
        es = float(snap.estimated_short.sum())
        e_segs: tuple[Seg, ...] = (
            ("E ", "text"),
            (f"{LONG_MARK}{compact_usd(el)}", "long"),
            (" ", "empty"),
            (f"{SHORT_MARK}{compact_usd(es)}", "short"),
        )
        second.append(Part((*e_segs, (f" {snap.scale_label}", "muted")), 7, e_segs))
    else:
        second.append(Part.of("E none yet", "muted", 7, short="E —"))
    loading = history_progress(snap.feeds)  # "history BTC 2/3 exchanges, 62%"
    if loading is not None:
        second.append(Part.of(loading, "warning", 6, short=loading.split(" exchanges")[0]))
    skipped = snap.skipped_messages
    if skipped:
        second.append(Part.of(f"skipped {skipped}", "warning", 8))
    else:
        second.append(Part.of("skipped 0", "muted", 3))
    second.append(feed_badges(snap))
    return [first, second]


class StatusBar(TextLines):
    """The two status lines at the top of the screen."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(2, name=name, id=id)

    def show(
        self,
        snap: MarketSnapshot,
        *,
        slot: int | None = None,
        paused: bool = False,
        error: str | None = None,
        view: str | None = None,
        fps: float | None = None,
    ) -> None:
        self.set_lines(
            status_parts(snap, slot=slot, paused=paused, error=error, view=view, fps=fps)
        )
