"""The app's views: built from its options (`compose_views`), and what is on screen, a frame
(the market's snapshot and what the visible view pulled with it), drawn on the visible view and
the status line. Each view's data preparation lives beside its widget (`ui/widgets/`); here
each view is handed what it shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher

from liqtui.model.engine import MarketSnapshot
from liqtui.output.ladder import LadderView
from liqtui.ui.widgets.cascade import CascadePanel, cascade_view
from liqtui.ui.widgets.chart import ChartWidget, chart_series
from liqtui.ui.widgets.exchanges import ExchangeTable, exchange_data
from liqtui.ui.widgets.heatmap import HeatmapWidget, heatmap_columns
from liqtui.ui.widgets.ladder import LadderHeader, LadderInfo, LadderWidget
from liqtui.ui.widgets.liqmap import LiqMapWidget, map_data
from liqtui.ui.widgets.overview import OverviewTable, overview_rows
from liqtui.ui.widgets.tape import TapeSummary, TapeWidget, tape_data

if TYPE_CHECKING:
    from liqtui.ui.app import LiqApp

VIEW_TITLES = {
    "ladder": "ladder",
    "heatmap": "time×price",
    "cascade": "cascade risk",
    "exchanges": "per exchange",
    "chart": "chart",
    "map": "cumulative liq map",
    "tape": "tape",
    "overview": "overview",
}


def compose_views(app: LiqApp) -> ComposeResult:
    """The views, in a switcher showing the app's view."""
    opts, scale = app.options, app.color_scale
    heatmap = HeatmapWidget(
        span_pct=opts.ladder_span_pct,
        absolute_top_usd=opts.absolute_top_usd if scale == "absolute" else None,
        realized_mark_usd=opts.realized_mark_usd,
        id="view-heatmap",
    )
    heatmap.set_lookback(opts.lookback)
    with ContentSwitcher(initial=f"view-{app.view_name}", id="views"):
        with Vertical(id="view-ladder"):
            header = LadderHeader(id="ladder-header")
            info = LadderInfo(id="ladder-info")
            yield header
            yield LadderWidget(
                realized_mark_usd=opts.realized_mark_usd,
                header=header,
                info=info,
                view=LadderView(span_pct=opts.ladder_span_pct),
                scale=scale,
                absolute_top_usd=opts.absolute_top_usd,
                id="ladder",
            )
            yield info
        yield heatmap
        yield CascadePanel(id="view-cascade")
        yield ExchangeTable(span_pct=opts.ladder_span_pct, id="view-exchanges")
        yield ChartWidget(id="view-chart")
        yield LiqMapWidget(
            span_pct=opts.ladder_span_pct,
            realized_mark_usd=opts.realized_mark_usd,
            id="view-map",
        )
        with Horizontal(id="view-tape"):
            yield TapeWidget(min_usd=opts.tape_min_usd, large_usd=opts.tape_large_usd, id="tape")
            yield TapeSummary(id="tape-summary")
        yield OverviewTable(id="view-overview")


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
        heatmap = app.heatmap
        data = extra(
            lambda: heatmap_columns(
                engine,
                app.history,
                snap,
                window_ms=window,
                exchange=exchange,
                lookback=heatmap.lookback,
                columns=heatmap.max_columns(),
            )
        )
        app.heatmap.show(snap, data.columns, data.version, live_marks=data.live_marks)
    elif view == "cascade":
        app.cascade.show(extra(lambda: cascade_view(engine, snap, exchange=exchange)))
    elif view == "exchanges":
        data = extra(lambda: exchange_data(engine, snap, window_ms=window, exchange=exchange))
        app.exchanges_table.show(snap, data)
    elif view == "chart":
        mode = app.chart.mode
        app.chart.show(*chart_series(engine, app.history, snap, mode, exchange=exchange))
    elif view == "map":
        liqmap = app.liqmap
        data = extra(
            lambda: map_data(
                engine, snap, window_ms=window, exchange=exchange, previous=liqmap.data
            )
        )
        liqmap.show(snap, data)
    elif view == "tape":
        tape = app.tape
        rows = tape.rows_wanted()
        app.tape.show(
            extra(lambda: tape_data(engine, min_usd=tape.min_usd, exchange=exchange, rows=rows))
        )
    elif view == "overview":
        draw_overview(app, snap)


def draw_overview(app: LiqApp, snap: MarketSnapshot) -> None:
    """The overview's rows, computed again when their inputs changed (also while paused: a
    filter key pulls again) or, while drawing, once they are the table's `interval` old (a
    second, longer when computing them costs more than ROWS_BUDGET of a core)."""
    table, engine = app.overview, app.engine
    key = (tuple(app.watchlist), app.options.window_ms, app.filters.exchange, engine.preset,
           engine.tier_filter)  # fmt: skip
    if table.stale(key) and (not app.paused or key != table.inputs):
        started = time.perf_counter()
        rows = overview_rows(
            engine,
            app.watchlist,
            window_ms=app.options.window_ms,
            exchange=app.filters.exchange,
            current=snap,
        )
        table.set_rows(rows, key, cost_s=time.perf_counter() - started)
    table.show(app.watchlist, app.current_symbol)


def draw_status(app: LiqApp) -> None:
    """The status line, for the snapshot on screen (or a fresh one of the current market)."""
    if not app.is_running:
        return
    snap = app.snapshot
    if snap is None or snap.symbol != app.current_symbol:
        snap = app.pull()
    app.status.show(
        snap,
        slot=app.slot_of(app.current_symbol),
        paused=app.paused,
        error=app.feed_error,
        view=VIEW_TITLES[app.view_name],
        fps=app.fps,
    )


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
