"""The liquidation ladder as a Line API widget: one cached Strip per row, only changed rows redrawn.

The widget never pulls data itself. The app hands it an immutable `MarketSnapshot` (`show`);
the widget asks its `LadderView` which prices its rows cover at its current height, lays the
rows out at its width with `row_segments`, and compares each row's segments with what is on
screen. Rows whose segments changed are refreshed one by one (`refresh(Region(0, y, w, 1))`),
or the whole widget when more than half changed, on resize, on a new symbol or a theme change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from liqtui.model.clusters import NearestClusters, nearest_clusters
from liqtui.model.engine import MarketSnapshot
from liqtui.output.ladder import (
    LEVELS,
    LONG_MARK,
    SHORT_MARK,
    LadderRow,
    LadderView,
    RowLayout,
    compact_usd,
    format_price,
    ladder_header,
    row_segments,
    step_decimals,
)
from liqtui.output.palette import PRICE_BAND, PRICE_BAND_ROLES
from liqtui.presets import LEVERAGE_TIERS
from liqtui.ui.scale import Legend, Readout, apply_scale, cumulative_to
from liqtui.ui.widgets.axis import PriceAxisView
from liqtui.ui.widgets.status import Part, Seg, TextLines

RowKey = tuple[Seg, ...]
_BAND = frozenset(PRICE_BAND_ROLES)


class LadderHeader(TextLines):
    """The one-line column header above the ladder (content supplied by the ladder)."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(1, name=name, id=id)


class LadderInfo(TextLines):
    """The lines under the ladder: the cursor readout and the color-scale legend in USD, then
    the leverage tiers that make up the cursor's level (without a cursor: the largest level
    on screen)."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(2, name=name, id=id)


TIER_BAR_GLYPHS = "█▓▒░"  # neighbouring tiers differ in glyph too (no color, 16 colors)
TIER_BAR_CELLS = 20


def tier_level(tier: int) -> int:
    """The heat level a leverage tier is drawn in: the higher the leverage, the hotter (the
    first to go in a move)."""
    order = sorted(LEVERAGE_TIERS)
    i = order.index(tier) if tier in order else 0
    return LEVELS - (len(order) - 1 - i)


def tier_bar(shares: Sequence[tuple[int, float]], cells: int, side: str) -> list[Seg]:
    """A stacked bar of `cells` cells, one run per (tier, share), largest remainders rounding."""
    exact = [share * cells for _, share in shares]
    counts = [math.floor(x) for x in exact]
    by_rest = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
    for i in by_rest[: max(cells - sum(counts), 0)]:
        counts[i] += 1
    return [
        (TIER_BAR_GLYPHS[i % len(TIER_BAR_GLYPHS)] * n, f"{side}{tier_level(tier)}")
        for i, ((tier, _), n) in enumerate(zip(shares, counts, strict=True))
        if n
    ]


def tier_parts(row: LadderRow | None, tiers: Sequence[int], *, cursor: bool) -> list[Part]:
    """The tier breakdown of one ladder level: "tiers at ▼97,200  100x 2.1M 32%  50x …" and
    a stacked bar, highest leverage first, for the level's larger side."""
    if row is None or not tiers:
        return []
    long_side = row.long_usd >= row.short_usd
    values = row.long_tiers if long_side else row.short_tiers
    total = row.long_usd if long_side else row.short_usd
    side, mark = ("long", LONG_MARK) if long_side else ("short", SHORT_MARK)
    decimals = step_decimals(row.price_high - row.price_low)
    where = f"{mark}{format_price(row.price_low, decimals)}"
    head = "tiers at " if cursor else "tiers at largest "
    label = Part(((head, "muted"), (where, side)), 10, (("tiers ", "muted"), (where, side)))
    if total <= 0 or len(values) != len(tiers):
        return [label, Part.of("no E on this level", "muted", 8)]
    shares = sorted(
        ((t, v / total) for t, v in zip(tiers, values, strict=True) if v > 0),
        key=lambda tv: -tv[0],
    )
    full: list[Seg] = []
    short: list[Seg] = []
    for tier, share in shares:
        role = f"{side}{tier_level(tier)}"
        usd = share * total
        full += [(f"{tier}x", role), (f" {compact_usd(usd)} {share:.0%}", "text"), ("  ", "empty")]
        short += [(f"{tier}x", role), (f" {share:.0%}", "text"), (" ", "empty")]
    bar = tuple(tier_bar(shares, TIER_BAR_CELLS, side))
    small = tuple(tier_bar(shares, TIER_BAR_CELLS // 2, side))
    return [label, Part(tuple(full[:-1]), 9, tuple(short[:-1])), Part(bar, 4, small)]


def readout_parts(readout: Readout | None, decimals: int, legend: Legend) -> list[Part]:
    """The cursor readout ("▲ to 98,500 +1.5%: E 12.3M shorts") and the legend."""
    parts: list[Part] = []
    if readout is None:
        parts.append(Part.of("cursor: ↑↓ move, esc back to price", "muted", 6, short="↑↓ cursor"))
    elif readout.pct == 0.0:
        parts.append(Part.of("cursor at price: ↑↓ move", "muted", 6, short="↑↓ cursor"))
    else:
        up = readout.side == "short"
        mark = SHORT_MARK if up else LONG_MARK
        where = "above" if up else "below"
        target = format_price(readout.target, decimals)
        role = "short" if up else "long"
        segs: tuple[Seg, ...] = (
            (f"{mark} {where} {target} ", "text"),
            (f"{readout.pct * 100:+.2f}%", "muted"),
            (": E ", "text"),
            (f"{compact_usd(readout.usd)} {readout.side}s", role),
            (" liquidated", "text"),
        )
        short: tuple[Seg, ...] = (
            (f"{mark}{target} ", "text"),
            (f"{readout.pct * 100:+.1f}%", "muted"),
            (" E ", "text"),
            (compact_usd(readout.usd), role),
        )
        parts.append(Part(segs, 9, short))
        if readout.realized_usd > 0:
            parts.append(Part.of(f"R {compact_usd(readout.realized_usd)}", "realized", 4))
    legend_segs: list[Seg] = [(f"{legend.mode} ", "muted")]
    for text, level in legend.parts():
        legend_segs.append((text, f"long{level}"))
        legend_segs.append((" ", "empty"))
    legend_segs.pop()
    short_legend = tuple(legend_segs[1:])
    parts.append(Part(tuple(legend_segs), 7, short_legend))
    return parts


def _centred(text: str, width: int, role: str) -> RowKey:
    text = text[:width]
    left = (width - len(text)) // 2
    right = width - len(text) - left
    return tuple(
        (t, r) for t, r in ((" " * left, "empty"), (text, role), (" " * right, "empty")) if t
    )


class LadderWidget(PriceAxisView):
    """Price rows with E heat bars and E / R columns, drawn from the last snapshot shown.
    The row keys move a cursor (the view scrolls to keep it on screen); the line under the
    ladder gives E from the price to it."""

    def __init__(
        self,
        *,
        realized_mark_usd: float = 100_000.0,
        view: LadderView | None = None,
        header: LadderHeader | None = None,
        info: LadderInfo | None = None,
        scale: str = "relative",
        absolute_top_usd: float = 10_000_000.0,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(view=view or LadderView(), name=name, id=id)
        self.realized_mark_usd = realized_mark_usd
        self.header = header  # kept in step with the rows' column layout
        self.info = info  # cursor readout and legend
        self.scale = scale
        self.absolute_top_usd = absolute_top_usd
        self.legend: Legend | None = None
        self.readout: Readout | None = None
        self.message: str | None = "waiting for data…"
        self.header_parts: list[Part] = [Part.of("price", "label", 10)]
        self.clusters: NearestClusters | None = None  # of the snapshot shown (the header's)
        self._clusters_of: MarketSnapshot | None = None
        self._shown_symbol: str | None = None
        self._laid_out = (0, 0)
        self.last_dirty_rows = 0  # rows refreshed by the last update (whole widget: its height)
        self.total_dirty_rows = 0
        self.updates = 0

    # -- public ---------------------------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        return max(1, self.size.height - 2)

    def show(self, snap: MarketSnapshot) -> None:
        """Draw a snapshot: only rows whose displayed content changed are refreshed."""
        new_symbol = snap.symbol != self._shown_symbol
        self.snapshot = snap
        self._update(full=new_symbol)

    def redraw(self) -> None:
        """Lay the current snapshot out again (after a view change); changed rows only."""
        self._update(full=False)

    def reset_view(self) -> None:
        """Forget zoom anchor, scroll position and cursor (a new symbol); the zoom is kept."""
        super().reset_view()
        self.cursor_group = None

    # -- keys: the cursor moves, the view follows it --------------------------------------------
    def action_cursor(self, rows: int) -> None:
        self.move_cursor(rows)

    def action_page(self, direction: int) -> None:
        page = self.page_rows
        start = self.cursor_group if self.cursor_group is not None else self.price_group()
        self.view.scroll(direction * page)
        if start is not None:
            self.cursor_group = start + direction * page

    def to_edge(self, group: int, direction: int) -> None:
        self.cursor_to(group)

    # -- layout ---------------------------------------------------------------------------------
    def _compute(self, width: int, height: int) -> list[RowKey]:
        snap = self.snapshot
        self.rows = []
        if width <= 0 or height <= 0:
            return []
        if snap is None:
            self.message = "waiting for data…"
        else:
            self.rows = self.view.rows(snap, height)
            self.message = None if self.rows else f"waiting for data for {snap.symbol}…"
        if not self.rows:
            blank: RowKey = ((" " * width, "empty"),)
            keys = [blank] * height
            keys[height // 2] = _centred(self.message or "", width, "message")
            self.header_parts = [Part.of("price", "label", 10)]
            self.readout = None
            if self.info is not None:
                self.info.set_lines([[], []])
            return keys
        self.rows, self.legend = apply_scale(self.rows, self.scale, self.absolute_top_usd)
        step = self.rows[0].price_high - self.rows[0].price_low
        decimals = step_decimals(step)
        layout = RowLayout.for_width(width, self.rows, decimals, distance=True)
        assert snap is not None
        if self._clusters_of is not snap:  # the nearest clusters, once per snapshot
            self.clusters, self._clusters_of = nearest_clusters(snap), snap
        self.header_parts = [Part(self._header(layout, step, width), 10)]
        mark = self.realized_mark_usd
        cursor = self.cursor_group
        axis = 3 if layout.dist else 2  # the segment of the axis mark (│ or ▶)
        keys = []
        self.readout = None
        tier_row: LadderRow | None = None
        for row in self.rows:
            segs = row_segments(row, layout, realized_mark_usd=mark, price=snap.price)
            if row.is_price_row:  # one highlighted band across the whole row
                segs = [(t, f"{r}{PRICE_BAND}" if r in _BAND else r) for t, r in segs]
            if cursor is not None and round(row.price_low / step) == cursor:
                segs[0] = (segs[0][0], "cursor")
                if not row.is_price_row and len(segs) > axis:
                    segs[axis] = ("◆", "cursor-mark")
                self.readout = cumulative_to(snap, row.price_low, row.price_high)
                tier_row = row
            keys.append(tuple(segs))
        if self.info is not None:
            assert snap is not None
            on_cursor = tier_row is not None
            if tier_row is None:  # no cursor: the largest level on screen
                tier_row = max(self.rows, key=lambda r: max(r.long_usd, r.short_usd))
            self.info.set_lines(
                [
                    readout_parts(self.readout, decimals, self.legend),
                    tier_parts(tier_row, snap.tiers, cursor=on_cursor),
                ]
            )
        return keys

    def _header(self, layout: RowLayout, step: float, width: int) -> tuple[Seg, ...]:
        return tuple(
            ladder_header(
                layout,
                step,
                width,
                realized_mark_usd=self.realized_mark_usd,
                clusters=self.clusters,
            )
        )

    def _update(self, *, full: bool) -> None:
        width, height = self.size.width, self.size.height
        keys = self._compute(width, height)
        if (width, height) != self._laid_out:
            full = True
        changed = self.repaint_lines(keys, full=full)
        self._laid_out = (width, height)
        self._shown_symbol = self.snapshot.symbol if self.snapshot is not None else None
        self.updates += 1
        # a whole-widget refresh counts as every row (what the TUI benchmark compares)
        self.last_dirty_rows = height if changed * 2 > height else changed
        self.total_dirty_rows += self.last_dirty_rows
        if self.header is not None:
            self.header.set_lines([self.header_parts])

    def on_resize(self) -> None:
        self._update(full=True)

    def invalidate_styles(self) -> None:
        super().invalidate_styles()
        self.last_dirty_rows = self.size.height
        self.total_dirty_rows += self.last_dirty_rows
