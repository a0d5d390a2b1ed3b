"""The price ladder: how a market snapshot becomes rows of cells. Shared by every view.

The TUI widget, the plain-text snapshot and (later) the ANSI/SVG printers draw the same rows:
`LadderView` decides which prices the rows cover (view state: zoom and anchor), `ladder_rows`
aggregates the model's bins into rows and quantizes intensity, and `row_segments` lays one row
out as (text, role) pairs. Roles name semantic colors ("long3", "short8", "price", ...); a view
maps them to styles, or ignores them for plain text, where the glyph ramp carries intensity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqtui.model.clusters import Cluster, NearestClusters
from liqtui.model.engine import MarketSnapshot

LEVELS = 8  # intensity buckets; few buckets keep noise from repainting rows
GLYPHS = " ░▒▓█"  # plain-text ramp; level 1–8 → glyph 1–4
LONG_MARK, SHORT_MARK = "▼", "▲"  # direction is never shown by hue alone
PRICE_MARK = "▶"
DIST_WIDTH = 6  # the distance-from-price column: "+4.75%"

Segment = tuple[str, str]  # (text, role)


def compact_usd(value: float) -> str:
    """1234 → '1.23k', 12_345_678 → '12.3M': three significant digits at most."""
    v = abs(value)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= scale * 0.9995:
            q = v / scale
            text = f"{q:.3g}" if q < 1000 else f"{q:.0f}"
            return f"{'-' if value < 0 else ''}{text}{suffix}"
    return f"{value:.0f}"


def step_decimals(step: float) -> int:
    for d in range(0, 10):
        if abs(round(step, d) - step) <= 1e-9 * max(step, 1e-12):
            return d
    return 10


def format_price(price: float, decimals: int) -> str:
    return f"{price:,.{decimals}f}"


def nice_row_bins(ideal_step: float, bin_width: float) -> int:
    """Bins per row: a row step that is a readable number (1, 2, 2.5, 5 × 10^k) and a whole
    number of bins, as close as possible to `ideal_step`."""
    best, best_err = max(1, round(ideal_step / bin_width)), math.inf
    exp = math.floor(math.log10(max(ideal_step, bin_width)))
    for e in range(exp - 1, exp + 2):
        for m in (1.0, 2.0, 2.5, 5.0):
            step = m * 10.0**e
            k = step / bin_width
            if k < 1 or abs(k - round(k)) > 1e-6:
                continue
            err = abs(math.log(step / ideal_step))
            if err < best_err:
                best, best_err = round(k), err
    return best


@dataclass(frozen=True, slots=True)
class LadderRow:
    price_low: float
    price_high: float
    long_usd: float  # E
    short_usd: float  # E
    realized_long_usd: float  # R
    realized_short_usd: float  # R
    is_price_row: bool
    long_level: int  # 0 (empty) … LEVELS
    short_level: int
    bar_long: int  # bar cells, as a fraction of the widest row (0..1000)
    bar_short: int
    # E per leverage tier (the snapshot's `tiers`), summing to long_usd / short_usd; empty
    # when the snapshot has no per-tier levels
    long_tiers: tuple[float, ...] = ()
    short_tiers: tuple[float, ...] = ()


class LadderView:
    """Which prices the ladder rows cover. Row boundaries sit on absolute multiples of the row
    step, so rows keep their prices while price moves; the view re-anchors only when price nears
    an edge (or on request), not on every tick."""

    def __init__(self, span_pct: float = 0.08, edge_rows: float = 0.15) -> None:
        self.span_pct = span_pct
        self.edge_rows = edge_rows
        self.row_bins = 0  # bins per row; 0: not fitted yet
        self.anchor_group: int | None = None  # absolute row group at the centre row
        self._grid_width = 0.0
        self._rows = 0
        self.following = True  # re-anchor on price near an edge; off after a manual scroll

    def reset(self) -> None:
        self.row_bins = 0
        self.anchor_group = None

    def row_step(self, snap: MarketSnapshot) -> float:
        return self.row_bins * snap.grid.width if snap.grid else 0.0

    def _fit(self, snap: MarketSnapshot, rows: int) -> None:
        assert snap.grid is not None and snap.price is not None
        width = snap.grid.width
        ideal = 2 * self.span_pct * snap.price / max(rows, 1)
        self.row_bins = nice_row_bins(ideal, width)
        self._grid_width = width
        self._rows = rows
        self.anchor_group = None

    def zoom(self, factor: float) -> None:
        """Multiply the price span (factor > 1 zooms out); re-fitted on the next rows()."""
        self.span_pct = min(max(self.span_pct * factor, 0.002), 0.35)
        self.row_bins = 0

    def scroll(self, rows: int) -> None:
        """Move the view up (positive) or down by whole rows; stops following price."""
        if self.anchor_group is not None:
            self.anchor_group += rows
            self.following = False

    def recentre(self) -> None:
        self.anchor_group = None
        self.following = True

    def rows(self, snap: MarketSnapshot, n_rows: int) -> list[LadderRow]:
        grid = snap.grid
        if grid is None or snap.price is None or n_rows <= 0:
            return []
        if self.row_bins == 0 or self._grid_width != grid.width or self._rows != n_rows:
            keep = self.anchor_group is not None and self._grid_width == grid.width
            anchor_price = (
                (self.anchor_group + 0.5) * self.row_bins * grid.width
                if keep and self.anchor_group is not None
                else None
            )
            self._fit(snap, n_rows)
            if anchor_price is not None:  # a resize keeps the view where the user left it
                self.anchor_group = math.floor(anchor_price / (self.row_bins * grid.width))
        k = self.row_bins
        price_group = math.floor(snap.price / (k * grid.width))
        if self.anchor_group is None:
            self.anchor_group = price_group
        top_group = self.anchor_group + n_rows // 2
        edge = max(1, int(n_rows * self.edge_rows))
        price_row = top_group - price_group
        if not edge <= price_row < n_rows - edge and self.following:
            self.anchor_group = price_group
            top_group = self.anchor_group + n_rows // 2
        return ladder_rows(snap, top_group, n_rows, k)


def ladder_rows(snap: MarketSnapshot, top_group: int, n_rows: int, k: int) -> list[LadderRow]:
    """Aggregate the snapshot's bins into `n_rows` rows of `k` bins, top row = `top_group`."""
    grid = snap.grid
    assert grid is not None and snap.price is not None
    groups = top_group - np.arange(n_rows)
    lo = np.clip(groups * k - grid.origin_bin, 0, grid.n_bins)
    hi = np.clip((groups + 1) * k - grid.origin_bin, 0, grid.n_bins)

    def sums(values: np.ndarray) -> np.ndarray:
        cs = np.concatenate(([0.0], np.cumsum(values)))
        return cs[hi] - cs[lo]

    e_long, e_short = sums(snap.estimated_long), sums(snap.estimated_short)
    r_long, r_short = sums(snap.realized_long), sums(snap.realized_short)
    peak = float(max(e_long.max(initial=0.0), e_short.max(initial=0.0)))
    total = e_long + e_short
    widest = float(total.max(initial=0.0))
    step = k * grid.width
    price_group = math.floor(snap.price / step)

    def level(v: np.ndarray) -> np.ndarray:
        if peak <= 0:
            return np.zeros(v.shape, dtype=np.int64)
        lv = np.ceil(LEVELS * np.sqrt(np.clip(v / peak, 0.0, 1.0)))  # sqrt: mid values visible
        return lv.astype(np.int64)

    long_lv, short_lv = level(e_long), level(e_short)
    no_tiers: list[tuple[float, ...]] = [()] * n_rows
    t_long, t_short = no_tiers, no_tiers
    if snap.estimated_long_tiers is not None and snap.estimated_short_tiers is not None:
        t_long, t_short = (
            [tuple(r) for r in tier_sums(a, lo, hi).T.tolist()]
            for a in (snap.estimated_long_tiers, snap.estimated_short_tiers)
        )
    bar = np.zeros(n_rows) if widest <= 0 else 1000.0 * total / widest
    share_long = np.divide(e_long, total, out=np.zeros(n_rows), where=total > 0)
    bar_long = np.round(bar * share_long).astype(np.int64)
    bar_short = np.round(bar).astype(np.int64) - bar_long
    return [
        LadderRow(
            price_low=float(groups[i] * step),
            price_high=float((groups[i] + 1) * step),
            long_usd=float(e_long[i]),
            short_usd=float(e_short[i]),
            realized_long_usd=float(r_long[i]),
            realized_short_usd=float(r_short[i]),
            is_price_row=bool(groups[i] == price_group),
            long_level=int(long_lv[i]),
            short_level=int(short_lv[i]),
            bar_long=int(bar_long[i]),
            bar_short=int(bar_short[i]),
            long_tiers=t_long[i],
            short_tiers=t_short[i],
        )
        for i in range(n_rows)
    ]


def tier_sums(by_tier: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """[tier, bin] values summed over the bin ranges [lo, hi): [tier, range]."""
    cs = np.zeros((by_tier.shape[0], by_tier.shape[1] + 1))
    np.cumsum(by_tier, axis=1, out=cs[:, 1:])
    return cs[:, hi] - cs[:, lo]


@dataclass(frozen=True, slots=True)
class RowLayout:
    """Column widths for a given terminal width. E and R are each two sub-columns, longs (▼)
    then shorts (▲), so a row holding both sides shows both figures, each under its own mark."""

    width: int
    label: int
    bar: int
    est: int  # width of each E sub-column ("▼12.6M"); 0: E dropped
    real: int  # width of each R sub-column ("●▼12.6M"); 0: R dropped
    decimals: int
    dist: int = 0  # width of the distance-from-price column after the label; 0: none

    @classmethod
    def for_width(
        cls, width: int, rows: list[LadderRow], decimals: int, *, distance: bool = False
    ) -> RowLayout:
        """Column widths at `width`; with `distance`, a distance-from-price column after the
        label. Narrow widths drop R first, then the distance, then E."""
        label = max((len(format_price(r.price_low, decimals)) for r in rows), default=8)
        est, real, dist = 6, 7, DIST_WIDTH if distance else 0

        def bar_for() -> int:
            cols = (dist + 1 if dist else 0) + (2 * (est + 1) if est else 0)
            return width - label - 2 - cols - (2 * (real + 1) if real else 0)

        bar = bar_for()
        if bar < 6:
            real = 0
            bar = bar_for()
        if bar < 6 and dist:
            dist = 0
            bar = bar_for()
        if bar < 4:
            est = 0
            bar = bar_for()
        return cls(width, label, max(bar, 0), est, real, decimals, dist)


def _fit(text: str, width: int, align: str = ">") -> str:
    return f"{text:{align}{width}}"[:width] if width > 0 else ""


def _side_cell(usd: float, mark: str, width: int, role: str, *, big: bool | None = None) -> Segment:
    """One sub-column cell (with its leading space): "▼12.6M", or "●▼12.6M" for a large R
    (`big`); blank when the side has nothing."""
    if usd <= 0:
        return (" " * (width + 1), "empty")
    prefix = "" if big is None else ("●" if big else " ")
    return (" " + _fit(prefix + mark + compact_usd(usd), width), role + ("-big" if big else ""))


def distance_text(target: float, price: float, decimals: int = 2) -> str:
    """The distance from `price` to `target` in at most DIST_WIDTH cells: "+4.75%", "-12.3%"
    (`decimals` at most; fewer when the figure is large)."""
    d = (target / price - 1.0) * 100
    if abs(d) >= 99.95:
        return f"{d:+.0f}%"
    if abs(d) >= 9.995:
        decimals = min(decimals, 1)
    return f"{d:+.{decimals}f}%"


def distance_decimals(step: float, price: float) -> int:
    """Decimals that tell adjacent rows apart: 1 when a row spans 0.1% or more, else 2. No
    more than that: each change of the figures repaints every row, and with 2 decimals a quiet
    market's ticks would change them every few seconds."""
    return 1 if step / price >= 0.001 else 2


def row_segments(
    row: LadderRow, layout: RowLayout, *, realized_mark_usd: float, price: float | None = None
) -> list[Segment]:
    """One row as (text, role) segments whose texts add up to exactly `layout.width` cells.
    With `layout.dist` and the `price`, the distance from the price to the row's label (blank
    on the price row, which the ▶ marks)."""
    segs: list[Segment] = []
    label_role = "price-row" if row.is_price_row else "label"
    segs.append((_fit(format_price(row.price_low, layout.decimals), layout.label), label_role))
    if layout.dist:
        step = row.price_high - row.price_low
        text = (
            ""
            if row.is_price_row or not price
            else distance_text(row.price_low, price, distance_decimals(step, price))
        )
        segs.append((" " + _fit(text, layout.dist), "axis"))
    segs.append((" ", "axis"))
    segs.append(
        (PRICE_MARK if row.is_price_row else "│", "price-row" if row.is_price_row else "axis")
    )
    n_long = math.ceil(layout.bar * row.bar_long / 1000) if row.bar_long else 0
    n_short = math.ceil(layout.bar * row.bar_short / 1000) if row.bar_short else 0
    if n_long + n_short > layout.bar:
        n_short = layout.bar - n_long
    if n_long:
        segs.append((GLYPHS[(row.long_level + 1) // 2] * n_long, f"long{row.long_level}"))
    if n_short:
        segs.append((GLYPHS[(row.short_level + 1) // 2] * n_short, f"short{row.short_level}"))
    rest = layout.bar - n_long - n_short
    if rest:
        segs.append((" " * rest, "price-row" if row.is_price_row else "empty"))
    if layout.est:
        segs.append(_side_cell(row.long_usd, LONG_MARK, layout.est, "est-long"))
        segs.append(_side_cell(row.short_usd, SHORT_MARK, layout.est, "est-short"))
    if layout.real:
        for usd, mark, role in (
            (row.realized_long_usd, LONG_MARK, "realized-long"),
            (row.realized_short_usd, SHORT_MARK, "realized-short"),
        ):
            big = usd >= realized_mark_usd
            segs.append(_side_cell(usd, mark, layout.real, role, big=big))
    return crop_segments(segs, layout.width, pad=True)  # tiny terminals: crop from the right


def crop_segments(segs: Sequence[Segment], width: int, *, pad: bool = False) -> list[Segment]:
    """Cut segments to `width` cells (and pad with an "empty" segment to exactly `width`)."""
    out: list[Segment] = []
    room = width
    for text, role in segs:
        if room <= 0:
            break
        piece = text[:room]
        if piece:
            out.append((piece, role))
        room -= len(piece)
    if pad and room > 0:
        out.append((" " * room, "empty"))
    return out


def cluster_distance(pct: float) -> str:
    """A cluster's distance: "+0.42%" within 1%, "+4.2%" beyond (fewer repaints as the price
    ticks)."""
    return f"{pct:+.2f}%" if abs(pct) < 0.995 else f"{pct:+.1f}%"


def cluster_segments(clusters: NearestClusters, decimals: int, *, short: bool) -> list[Segment]:
    """The nearest large clusters: "nearest ▲ 98,375 +4.8% E 10.2M  ▼ 91,875 -2.2% E 10.5M"
    (`short`: "▲+4.8% 10.2M ▼-2.2% 10.5M"); "none within 15%" for a side without one."""
    segs: list[Segment] = [] if short else [("nearest ", "muted")]
    sides: tuple[tuple[str, Cluster | None, str], ...] = (
        (SHORT_MARK, clusters.above, "short"),
        (LONG_MARK, clusters.below, "long"),
    )
    for i, (mark, cluster, role) in enumerate(sides):
        if i:
            segs.append((" " if short else "  ", "empty"))
        if cluster is None:
            none = "—" if short else f"none within {clusters.reach_pct:g}%"
            segs.append((f"{mark}{'' if short else ' '}{none}", "muted"))
            continue
        dist = cluster_distance(cluster.distance_pct)
        usd = compact_usd(cluster.usd)
        if short:
            segs.append((f"{mark}{dist} {usd}", role))
        else:
            at = format_price(cluster.price, decimals)
            segs.append((f"{mark} {at} ", role))
            segs.append((dist, "muted"))
            segs.append((f" E {usd}", role))
    return segs


def _length(segs: Sequence[Segment]) -> int:
    return sum(len(t) for t, _ in segs)


def ladder_header(
    layout: RowLayout,
    step: float,
    width: int,
    *,
    realized_mark_usd: float | None = None,
    clusters: NearestClusters | None = None,
) -> list[Segment]:
    """The column header above the rows: legend on the left, the E and R columns right. With
    `clusters` (the TUI), the nearest large clusters come first after "price", and the legend
    gives way to them on narrow screens."""
    if clusters is not None and clusters.reason is None:
        return _cluster_header(layout, step, width, clusters, realized_mark_usd)
    cols = _columns_text(layout)
    left: list[Segment] = [
        _price_title(layout),
        ("  E ", "text"),
        (f"{LONG_MARK}long", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}short", "short"),
        (" intensity ", "muted"),
        *((g, f"long{2 * i}") for i, g in enumerate(GLYPHS.strip(), start=1)),
        (f"  step {format_price(step, layout.decimals)}", "muted"),
    ]
    if realized_mark_usd is not None:
        left.append((f"  ●R≥{compact_usd(realized_mark_usd)}", "realized"))
    left = crop_segments(left, max(width - len(cols), 0), pad=True)
    return crop_segments([*left, (cols, "label")], width)


def _price_title(layout: RowLayout) -> Segment:
    """ "price" over the label column (and the distance column when there is one)."""
    return (f"{'price':>{layout.label + (layout.dist + 1 if layout.dist else 0)}}", "label")


def _columns_text(layout: RowLayout) -> str:
    cols = ""
    if layout.est:
        cols += f" {'E' + LONG_MARK + 'usd':>{layout.est}} {'E' + SHORT_MARK + 'usd':>{layout.est}}"
    if layout.real:
        cols += (
            f" {'R' + LONG_MARK + 'usd':>{layout.real}} {'R' + SHORT_MARK + 'usd':>{layout.real}}"
        )
    return cols


def _cluster_header(
    layout: RowLayout,
    step: float,
    width: int,
    clusters: NearestClusters,
    realized_mark_usd: float | None,
) -> list[Segment]:
    """The header with the nearest clusters: the widest form that fits, dropping the R mark,
    the intensity legend and the step, then shortening the clusters."""
    cols = _columns_text(layout)
    room = max(width - len(cols), 0)
    label: list[Segment] = [_price_title(layout)]
    legend: list[Segment] = [
        ("  E ", "text"),
        (f"{LONG_MARK}long", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}short", "short"),
        (" ", "muted"),
        *((g, f"long{2 * i}") for i, g in enumerate(GLYPHS.strip(), start=1)),
    ]
    step_segs: list[Segment] = [(f"  step {format_price(step, layout.decimals)}", "muted")]
    mark: list[Segment] = (
        [(f"  ●R≥{compact_usd(realized_mark_usd)}", "realized")]
        if realized_mark_usd is not None
        else []
    )
    gap: list[Segment] = [("  ", "empty")]
    full = cluster_segments(clusters, layout.decimals, short=False)
    brief = cluster_segments(clusters, layout.decimals, short=True)
    for parts in (
        [label, gap, full, legend, step_segs, mark],
        [label, gap, full, step_segs, mark],
        [label, gap, full, step_segs],
        [label, gap, full],
        [label, gap, brief, step_segs],
        [label, gap, brief],
    ):
        left = [seg for part in parts for seg in part]
        if _length(left) <= room:
            break
    left = crop_segments(left, room, pad=True)
    return crop_segments([*left, (cols, "label")], width)
