"""Headless snapshots: one market frame as plain text (the TUI ladder with a glyph ramp), ANSI
colors, JSON or CSV. (SVG is drawn by the Textual app itself; see `liqtui.cli`.)

Every figure is labelled: E = estimated by the model (relative until calibrated),
R = realized, i.e. printed by an exchange's liquidation feed.

The text and ANSI printers draw the same `Frame` (`liqtui.output.render`): lines of (text, role)
segments. Text drops the roles (the glyph ramp carries intensity), ANSI maps them through the
TUI's theme palette (built by the caller: `liqtui.ui.themes.ansi_palette`), so the two share
one line layout and stripping the escapes from ANSI gives the text lines back.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from importlib import resources
from typing import TYPE_CHECKING

from liqtui import __version__
from liqtui.model.clusters import (
    LARGE_MULTIPLE,
    LARGE_QUANTILE,
    LEVEL_PCT,
    Cluster,
    NearestClusters,
    nearest_clusters,
)
from liqtui.model.engine import MarketSnapshot
from liqtui.model.overview import RISK_DISTANCE, OverviewRow
from liqtui.model.risk import DISTANCES, calibration, risk_report, w_level
from liqtui.output.ladder import LadderRow, LadderView
from liqtui.output.palette import PRICE_BAND, PRICE_BAND_ROLES
from liqtui.output.render import build_frame, iso_time, segments_text, visible_rows

if TYPE_CHECKING:
    from rich.color import ColorSystem
    from rich.style import Style

    from liqtui.events import BookDepth

HOUR_MS = 3_600_000
SCHEMA_VERSION = 2  # 2: price_source names only the source (stale is price_stale)
LABELS = {
    "E": "estimated by the model from open interest, taker flow and a leverage prior "
    "(relative scale until calibrated)",
    "R": "realized: liquidations printed by the exchanges' feeds in the window",
}
CSV_COLUMNS = (
    "symbol",
    "as_of",
    "price_low",
    "price_high",
    "long_usd",
    "short_usd",
    "realized_long_usd",
    "realized_short_usd",
    "price",
    "price_row",
)


def render_text(
    snap: MarketSnapshot,
    *,
    width: int = 100,
    height: int = 40,
    view: LadderView | None = None,
    realized_mark_usd: float = 100_000.0,
) -> str:
    """The ladder as plain text: no escape codes, trailing spaces stripped."""
    frame = build_frame(
        snap, width=width, height=height, view=view, realized_mark_usd=realized_mark_usd
    )
    return "\n".join(segments_text(segs).rstrip() for segs in frame.lines) + "\n"


# -- ANSI ---------------------------------------------------------------------------------------


def render_ansi(
    snap: MarketSnapshot,
    *,
    palette: Mapping[str, Style],
    width: int = 100,
    height: int = 40,
    view: LadderView | None = None,
    realized_mark_usd: float = 100_000.0,
    truecolor: bool = True,
) -> str:
    """The text frame with the TUI's colors: SGR escape codes, 24-bit or 256 colors."""
    from rich.color import ColorSystem

    system = ColorSystem.TRUECOLOR if truecolor else ColorSystem.EIGHT_BIT
    frame = build_frame(
        snap, width=width, height=height, view=view, realized_mark_usd=realized_mark_usd
    )
    empty = palette.get("empty")
    out = []
    for i, segs in enumerate(frame.lines):
        if i == frame.price_line:  # one highlighted band across the price row, as in the TUI
            segs = [(t, f"{r}{PRICE_BAND}" if r in PRICE_BAND_ROLES else r) for t, r in segs]
        while segs and segs[-1][1] == "empty" and not segs[-1][0].strip():
            segs = segs[:-1]  # unstyled trailing blanks: what the text format strips too
        out.append("".join(_sgr(text, palette.get(role, empty), system) for text, role in segs))
    return "\n".join(out) + "\n"


def _sgr(text: str, style: Style | None, system: ColorSystem) -> str:
    """`text` wrapped in SGR codes. Not Style.render: Rich caches a style's codes for the first
    color system it meets, and combined styles are shared, so 24-bit would leak into 256."""
    if style is None or not text:
        return text
    codes = [code for attr, code in _SGR_ATTRS if getattr(style, attr)]
    if style.color is not None:
        codes += style.color.downgrade(system).get_ansi_codes(foreground=True)
    if style.bgcolor is not None:
        codes += style.bgcolor.downgrade(system).get_ansi_codes(foreground=False)
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if codes else text


_SGR_ATTRS = (("bold", "1"), ("dim", "2"), ("italic", "3"), ("underline", "4"), ("reverse", "7"))


# -- cascade risk -------------------------------------------------------------------------------


def _scale_name(snap: MarketSnapshot) -> str:
    return "calibrated" if calibration(snap)[0] else "relative"


def cascade_risk(
    snap: MarketSnapshot,
    depth: Mapping[str, BookDepth] | None = None,
    distances: Sequence[float] = DISTANCES,
) -> dict[str, object]:
    """The cascade panel's figures (`liqtui.model.risk.risk_report`): E within each distance
    of the price (longs below, shorts above; null, with `reason`, when they cannot be
    computed), R_X beside them, W_crit and the scenarios, the ρ they apply (`rho`), and the
    latest visible order-book depth per exchange (`depth`, else the snapshot's own; null when
    there is none)."""
    if depth is None:
        depth = {d.exchange: d for d in snap.depth}
    else:
        snap = replace(snap, depth=tuple(d for _, d in sorted(depth.items())))
    report = risk_report(snap, distances=distances)
    within = report.e_within
    r_x = report.r_x
    bands: list[dict[str, object]] = [
        {
            "distance_pct": d * 100,
            "long_usd_below": None if within.long_usd is None else within.long_usd[i],
            "short_usd_above": None if within.short_usd is None else within.short_usd[i],
            "r_long": r_x.get("long", {}).get(d),
            "r_short": r_x.get("short", {}).get(d),
        }
        for i, d in enumerate(within.distances)
    ]
    w_crit: dict[str, object] = {"shock_pct": report.w_crit_shock * 100}
    for side in ("long", "short"):
        value = report.w_crit.get(side)
        w_crit[side] = value
        w_crit[f"{side}_level"] = w_level(value)
    scenarios = [
        {
            "side": sc.side,
            "shock_pct": sc.shock * 100,
            "regime": sc.regime,
            "survival": sc.survival,
            "stop_pct": None if sc.stop is None else sc.stop * 100,
            "amplification": sc.amplification,
            "forced_usd": sc.forced_usd,
            "runaway": sc.runaway,
        }
        for sc in report.scenarios
    ]
    book: dict[str, object] | None = None
    if depth:
        book = {
            ex: {
                "time": d.time_ms,
                "mid": d.mid,
                "distance_pct": [x * 100 for x in d.distances],
                "bid_usd": list(d.bid_usd),
                "ask_usd": list(d.ask_usd),
            }
            for ex, d in sorted(depth.items())
        }
    return {
        "label": "E",
        "scale": _scale_name(snap),
        "bands": bands,
        "reason": within.reason,
        "rho": {
            "applied": report.rho,
            "source": report.rho_source,
            "calibrated": report.calibrated_rho,
            "note": report.rho_note,
        },
        "w_crit": w_crit,
        "scenarios": scenarios,
        "notes": list(report.notes),
        "book_depth": book,
    }


# -- the nearest clusters and the overview row ---------------------------------------------------


def _cluster_json(cluster: Cluster | None) -> dict[str, object] | None:
    if cluster is None:
        return None
    return {
        "price": cluster.price,
        "price_low": cluster.price_low,
        "price_high": cluster.price_high,
        "distance_pct": cluster.distance_pct,
        "e_usd": cluster.usd,
        "peak_e_usd": cluster.peak_usd,
        "levels": cluster.levels,
    }


def clusters_json(
    snap: MarketSnapshot, clusters: NearestClusters | None = None
) -> dict[str, object]:
    """The nearest large cluster of E above and below the price (`liqtui.model.clusters`, the
    figures of the overview and the ladder's header), with what "large" meant here."""
    c = clusters if clusters is not None else nearest_clusters(snap)
    return {
        "label": "E",
        "scale": _scale_name(snap),
        "above": _cluster_json(c.above),
        "below": _cluster_json(c.below),
        "level_step": c.level_step,
        "level_pct": LEVEL_PCT * 100,
        "reach_pct": c.reach_pct,
        "median_usd": c.median_usd,
        "threshold_usd": c.threshold_usd,
        "rule": f"a level of E (about {LEVEL_PCT * 100:g}% of the price) holding at least "
        f"{LARGE_MULTIPLE:g}x the median non-empty level and in their top "
        f"{(1 - LARGE_QUANTILE) * 100:g}%; a cluster is the run of adjacent large levels "
        "nearest the price",
        "reason": c.reason,
    }


def overview_json(row: OverviewRow) -> dict[str, object]:
    """The market's overview row (`liqtui.model.overview`): what the overview view shows
    besides the clusters (written under `clusters`)."""
    (r1l, r1s), (r24l, r24s) = row.realized_1h, row.realized_24h
    return {
        "change_pct": row.change_pct,
        "change_span_ms": row.change_span_ms,
        "change_24h_pct": row.change_pct if row.change_full else None,
        "realized_1h": {"long_usd": r1l, "short_usd": r1s},
        "realized_24h": {"long_usd": r24l, "short_usd": r24s, "span_ms": row.realized_span_ms},
        "r_x": {
            "distance_pct": RISK_DISTANCE * 100,
            "long_below": row.r_x[0],
            "short_above": row.r_x[1],
        },
        "health": row.health,
        "feeds_live": row.feeds_live,
        "feeds_total": row.feeds_total,
        "health_note": row.health_note,
    }


def map_history(snap: MarketSnapshot) -> dict[str, object]:
    """How much open-interest history the map holds per exchange (hours from its first reading
    to `as_of`: the store, a backfill, a replay or live), the decay half-life, and the map's
    confidence (`liqtui.model.engine.history_confidence`)."""
    return {
        "hours": {ex: ms / HOUR_MS for ex, ms in sorted(snap.oi_history_ms.items())},
        "half_life_hours": snap.half_life_ms / HOUR_MS,
        "confidence": snap.confidence,
    }


# -- number precision (JSON and CSV) -------------------------------------------------------------


def _significant(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


# Field name → how a float in it is written. USD: cents; prices: 8 significant digits (finer
# than any market's tick); percentages: 4 decimals; ρ: 6 significant digits; open interest
# (base units) and anything else: 8 significant digits. Lists take their field's rule.
_PRECISION: dict[str, Callable[[float], float]] = {
    "price": lambda x: _significant(x, 8),
    "price_low": lambda x: _significant(x, 8),
    "price_high": lambda x: _significant(x, 8),
    "mid": lambda x: _significant(x, 8),
    "scale": lambda x: _significant(x, 6),
    "rate_per_s": lambda x: round(x, 2),
    "hours": lambda x: round(x, 2),
    "half_life_hours": lambda x: round(x, 2),
    "confidence": lambda x: round(x, 3),
}
_DEFAULT_PRECISION = 8
# Objects whose keys are names (exchanges), not fields: their values take the object's rule.
_NAMED_KEYS = frozenset({"open_interest", "by_exchange", "book_depth", "by_tier", "hours"})


def _is_usd(field: str) -> bool:
    return field.endswith("_usd") or "_usd_" in field  # long_usd, bid_usd, long_usd_below


def rounded(field: str, x: float) -> float | None:
    """`x` written with the precision of `field`; None when it is not finite (JSON has no
    NaN or infinity); never -0.0."""
    if not math.isfinite(x):
        return None
    if _is_usd(field):
        y = round(x, 2)
    elif field.endswith("_pct"):
        y = round(x, 4)
    else:
        rule = _PRECISION.get(field)
        y = rule(x) if rule is not None else _significant(x, _DEFAULT_PRECISION)
    return y + 0.0  # -0.0 → 0.0


def _with_precision(value: object, field: str = "") -> object:
    """The whole document with every float written at its field's precision."""
    if isinstance(value, float):
        return rounded(field, value)
    if isinstance(value, dict):
        if field in _NAMED_KEYS:  # a number under a name takes the object's rule
            return {
                k: _with_precision(v, "" if isinstance(v, dict) else field)
                for k, v in value.items()
            }
        return {k: _with_precision(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_precision(v, field) for v in value]
    return value


# -- JSON ---------------------------------------------------------------------------------------


def _level_json(row: LadderRow, tiers: Sequence[int] = ()) -> dict[str, object]:
    level: dict[str, object] = {
        "price_low": row.price_low,
        "price_high": row.price_high,
        "long_usd": row.long_usd,
        "short_usd": row.short_usd,
        "realized_long_usd": row.realized_long_usd,
        "realized_short_usd": row.realized_short_usd,
        "price_row": row.is_price_row,
    }
    if tiers and len(row.long_tiers) == len(tiers) == len(row.short_tiers):
        level["by_tier"] = _by_tier(tiers, row.long_tiers, row.short_tiers)
    return level


def _by_tier(
    tiers: Sequence[int], longs: Sequence[float], shorts: Sequence[float]
) -> dict[str, dict[str, float]]:
    """Leverage tier ("25x") → E long and short USD."""
    return {
        f"{t}x": {"long_usd": float(lo), "short_usd": float(sh)}
        for t, lo, sh in zip(tiers, longs, shorts, strict=True)
    }


def _estimated_by_tier(snap: MarketSnapshot) -> dict[str, dict[str, float]]:
    """E per leverage tier over the whole grid (empty without per-tier levels)."""
    lt, st = snap.estimated_long_tiers, snap.estimated_short_tiers
    if lt is None or st is None or not snap.tiers:
        return {}
    return _by_tier(snap.tiers, lt.sum(axis=1).tolist(), st.sum(axis=1).tolist())


def snapshot_dict(
    snap: MarketSnapshot,
    *,
    rows: int = 40,
    view: LadderView | None = None,
    depth: Mapping[str, BookDepth] | None = None,
    overview: OverviewRow | None = None,
) -> dict[str, object]:
    """The JSON document: the same rows the text ladder shows, highest price first; the
    market's overview row when given (`overview`, else null). Its shape is
    `liqtui/schema/snapshot.schema.json`."""
    ladder = visible_rows(snap, rows, view)
    return {
        "schema_version": SCHEMA_VERSION,
        "liqtui_version": __version__,
        "symbol": snap.symbol,
        "as_of": snap.as_of_ms,
        "as_of_utc": iso_time(snap.as_of_ms),
        "price": snap.price,
        "price_source": snap.price_source,
        "price_exchanges": list(snap.price_exchanges),
        "price_time": snap.price_time_ms,
        "price_age_ms": snap.price_age_ms,
        "price_stale": snap.price_stale,
        "window_ms": snap.window_ms,
        "labels": dict(LABELS),
        "realized": {
            "label": "R",
            "long_usd": snap.realized_long_usd,
            "short_usd": snap.realized_short_usd,
            "count": snap.realized_count,
            "by_exchange": {
                ex: {"long_usd": lo, "short_usd": sh}
                for ex, (lo, sh) in sorted(snap.realized_by_exchange.items())
            },
            "duplicates_dropped": snap.duplicates,
        },
        "estimated": {
            "label": "E",
            "scale": _scale_name(snap),
            "preset": snap.preset,
            "tier_filter": snap.tier_filter,
            "long_usd": float(snap.estimated_long.sum()) if snap.estimated_long.size else 0.0,
            "short_usd": float(snap.estimated_short.sum()) if snap.estimated_short.size else 0.0,
            "by_exchange": {
                ex: {"long_usd": lo, "short_usd": sh}
                for ex, (lo, sh) in sorted(snap.estimated_by_exchange.items())
            },
            "tier_weights": {
                f"{t}x": w for t, w in zip(snap.tiers, snap.tier_weights, strict=False)
            },
            "by_tier": _estimated_by_tier(snap),
            "history": map_history(snap),
        },
        "risk": cascade_risk(snap, depth),
        "clusters": clusters_json(snap, overview.clusters if overview is not None else None),
        "overview": overview_json(overview) if overview is not None else None,
        # Until `liqtui calibrate` has fitted ρ for this preset: not calibrated, scale null.
        "calibration": dict(zip(("calibrated", "scale"), calibration(snap), strict=True)),
        "levels": [_level_json(r, snap.tiers) for r in ladder],
        "open_interest": dict(sorted(snap.open_interest.items())),
        "skipped_messages": snap.skipped_messages,
        "ignored_messages": snap.ignored_messages,
        "feeds": [
            {
                "name": f.name,
                "state": f.state,
                "messages": f.messages,
                "skipped": f.skipped,
                "ignored": f.ignored,
                "last_event_ms": f.last_event_ms,
                "last_error": f.last_error,
                "liquidations_complete": f.liquidations_complete,
                "note": f.note,
                "rate_per_s": f.rate_per_s,
                "reconnects": f.reconnects,
                "failures": f.failures,
                "next_retry_ms": f.next_retry_ms,
                "refused": f.refused,
                "unlisted": list(f.unlisted),
                "poll_stretch": round(f.poll_stretch, 2),
                "retimed": f.retimed,
            }
            for f in snap.feeds
        ],
    }


def render_json(
    snap: MarketSnapshot,
    *,
    rows: int = 40,
    view: LadderView | None = None,
    depth: Mapping[str, BookDepth] | None = None,
    overview: OverviewRow | None = None,
) -> str:
    """One JSON object on one line (JSON Lines), every number at its field's precision."""
    doc = _with_precision(snapshot_dict(snap, rows=rows, view=view, depth=depth, overview=overview))
    return json.dumps(doc, allow_nan=False) + "\n"  # ASCII-only: safe in any locale and pipe


def schema_text() -> str:
    """The JSON Schema of `render_json`'s objects, as shipped in the package."""
    return (resources.files("liqtui") / "schema" / "snapshot.schema.json").read_text("utf-8")


# -- CSV ----------------------------------------------------------------------------------------


def render_csv(
    snap: MarketSnapshot,
    *,
    rows: int = 40,
    view: LadderView | None = None,
    header: bool = True,
) -> str:
    """One row per ladder level (highest price first); no rows for a market without data."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for r in visible_rows(snap, rows, view):
        level = _level_json(r)
        values = {**level, "symbol": snap.symbol, "as_of": snap.as_of_ms, "price": snap.price}
        values["price_row"] = int(r.is_price_row)
        writer.writerow(_csv_cell(name, values[name]) for name in CSV_COLUMNS)
    return buf.getvalue()


def _csv_cell(field: str, value: object) -> object:
    """A CSV cell with the JSON's precision; USD always with two decimals."""
    if not isinstance(value, float):
        return value
    x = rounded(field, value)
    if x is None:
        return ""
    return f"{x:.2f}" if _is_usd(field) else repr(x)
