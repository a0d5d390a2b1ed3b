"""The shared base of the views of price levels (ladder, time × price, per exchange).

Each such view holds its own `LadderView` (which prices its rows cover: zoom, scroll, whether
it follows the price) and answers the keys that move it: a row or a page up or down, to the
highest or lowest level with E or R, back to the price, zoom in and out. The keys are bound on
the app (so they work wherever the focus is, see `liqtui.keys`), which hands them to the
visible view and then redraws.
"""

from __future__ import annotations

import math

import numpy as np

from liqtui.model.engine import MarketSnapshot
from liqtui.output.ladder import LadderRow, LadderView
from liqtui.ui.widgets.status import ThemedLines

ZOOM_STEP = 1.5


class PriceAxisView(ThemedLines):
    """A Line API view whose rows are price levels, top first."""

    def __init__(
        self,
        *,
        view: LadderView | None = None,
        span_pct: float = 0.08,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.view = view or LadderView(span_pct=span_pct)
        self.rows: list[LadderRow] = []  # the price levels on screen, top first
        self.snapshot: MarketSnapshot | None = None  # the last one shown
        # Absolute row group (price // row step) of the cursor, in the views that have one
        # (ladder, time × price, map); None: no cursor (it starts from the price).
        self.cursor_group: int | None = None

    def redraw(self) -> None:
        """Lay the last snapshot out again (the view's rows changed, the data did not)."""
        raise NotImplementedError

    @property
    def row_step(self) -> float | None:
        """Price span of one row as shown (None when no rows are shown)."""
        if not self.rows:
            return None
        return self.rows[0].price_high - self.rows[0].price_low

    def reset_view(self) -> None:
        """Forget the zoom anchor and the scroll position (a new symbol); the zoom is kept."""
        self.view.reset()
        self.view.recentre()

    # -- keys ------------------------------------------------------------------------------------
    def action_cursor(self, rows: int) -> None:
        """Up (positive) or down by rows."""
        self.view.scroll(rows)

    def action_page(self, direction: int) -> None:
        self.view.scroll(direction * max(1, self.size.height - 3))

    # -- the cursor (ladder, time × price, map: their row keys move it) --------------------------
    def price_group(self) -> int | None:
        """The row group of the price (None when no rows or no price are shown)."""
        snap, step = self.snapshot, self.row_step
        if snap is None or snap.price is None or step is None:
            return None
        return math.floor(snap.price / step)

    def move_cursor(self, rows: int) -> None:
        """The cursor up (positive) or down by rows, from the price on the first press; the
        view scrolls to keep it on screen, a row from the edge."""
        step = self.row_step
        start = self.cursor_group if self.cursor_group is not None else self.price_group()
        if start is None or step is None:
            return
        top = round(self.rows[0].price_low / step)
        bottom = round(self.rows[-1].price_low / step)
        target = start + rows
        margin = 1 if len(self.rows) > 4 else 0
        if target > top - margin:
            self.view.scroll(target - (top - margin))
        elif target < bottom + margin:
            self.view.scroll(target - (bottom + margin))
        self.cursor_group = target

    def cursor_to(self, group: int) -> None:
        """The cursor onto an absolute row group, scrolling the view to it."""
        start = self.cursor_group if self.cursor_group is not None else self.price_group()
        if start is not None:
            self.move_cursor(group - start)

    def clear_cursor(self) -> None:
        self.cursor_group = None

    def action_edge(self, direction: int) -> None:
        """To the highest (1) or lowest (-1) price with E or R on the map."""
        group = self._edge_group(direction)
        if group is not None:
            self.to_edge(group, direction)

    def to_edge(self, group: int, direction: int) -> None:
        """Scroll so that row group `group` is the top (1) or bottom (-1) row."""
        step = self.row_step
        assert step is not None
        top = round(self.rows[0].price_low / step)
        target_top = group + (0 if direction > 0 else len(self.rows) - 1)
        self.view.scroll(target_top - top)

    def _edge_group(self, direction: int) -> int | None:
        snap, step = self.snapshot, self.row_step
        if snap is None or snap.grid is None or step is None:
            return None
        mass = snap.estimated_long + snap.estimated_short
        if snap.realized_long.size == mass.size:
            mass = mass + snap.realized_long + snap.realized_short
        nz = np.flatnonzero(mass > 0)
        if nz.size == 0:
            return None
        b = int(nz[-1] if direction > 0 else nz[0])
        price = snap.grid.origin + (b + 0.5) * snap.grid.width
        return int(price // step)

    def action_recentre(self) -> None:
        self.view.recentre()

    def action_zoom_in(self) -> None:
        self.zoom(1 / ZOOM_STEP)

    def action_zoom_out(self) -> None:
        self.zoom(ZOOM_STEP)

    def zoom(self, factor: float) -> None:
        """Zoom until the row step changes (row steps are rounded to "nice" prices, so one
        factor may not be enough), at most a few steps."""
        before = self.row_step
        for _ in range(4):
            self.view.zoom(factor)
            self.redraw()
            if before is None or self.row_step != before:
                break
