"""What is on screen: a frame (the market's snapshot and what the visible view pulled with it)
and how it is drawn on the app's views. Each view's data preparation lives beside its widget
(`ui/widgets/`); here each view is handed what it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liqtui.model.engine import MarketSnapshot
from liqtui.ui.widgets.cascade import cascade_view
from liqtui.ui.widgets.chart import chart_series
from liqtui.ui.widgets.exchanges import exchange_data
from liqtui.ui.widgets.heatmap import heatmap_columns

if TYPE_CHECKING:
    from liqtui.ui.app import LiqApp

VIEW_TITLES = {
    "ladder": "ladder",
    "heatmap": "time×price",
    "cascade": "cascade risk",
    "exchanges": "per exchange",
    "chart": "chart",
}


@dataclass
class Frame:
    """What is on screen: the market's snapshot and what each view pulled with it (frozen
    together while paused)."""

    snap: MarketSnapshot
    extras: dict[str, Any] = field(default_factory=dict)


def draw_view(app: LiqApp, frame: Frame) -> None:
    """Hand the frame to the app's visible view, with what that view pulls besides the
    snapshot (prepared beside its widget; kept with the frame while paused)."""
    view, snap = app.view_name, frame.snap
    engine, window, exchange = app.engine, app.options.window_ms, app.filters.exchange

    def extra(make: Callable[[], object]) -> Any:
        if view not in frame.extras or not app.paused:
            frame.extras[view] = make()
        return frame.extras[view]

    keep_centred(app, snap)
    if view == "ladder":
        app.ladder.show(snap)
    elif view == "heatmap":
        cols, version = extra(
            lambda: heatmap_columns(engine, app.history, snap, window_ms=window, exchange=exchange)
        )
        app.heatmap.show(snap, cols, version)
    elif view == "cascade":
        app.cascade.show(extra(lambda: cascade_view(engine, snap, exchange=exchange)))
    elif view == "exchanges":
        data = extra(lambda: exchange_data(engine, snap, window_ms=window, exchange=exchange))
        app.exchanges_table.show(snap, data)
    elif view == "chart":
        mode = app.chart.mode
        app.chart.show(*chart_series(engine, app.history, snap, mode, exchange=exchange))


def keep_centred(app: LiqApp, snap: MarketSnapshot) -> None:
    """Until a market's data is of the present and priced by a mark (not a warm-up price,
    not an old liquidation print), its price views centre on the latest price on every
    frame, unless the user moved them; from then on they follow the price near an edge."""
    if snap.symbol in app.settled or snap.price is None:
        return
    for widget in app.price_views().values():
        if widget.view.following:
            widget.view.recentre()
    if app.caught_up(snap) and (snap.price_source or "").startswith("mark"):
        app.settled.add(snap.symbol)
