"""Fitting the model's free parameters per market by out-of-sample validation (pure numpy).

`liqtui calibrate --fit` hands this module the events of a recording (parsed once) and it:

1. measures what no parameter changes, per scored window and side (`window_facts`): realized
   notional R, the price excursion from the window's open, open interest at its start;
2. replays the events once per half-life through an engine without history H (the views'
   part, half the cost of a step), collecting the consumption C per window, side and leverage
   tier *unweighted* (`tier_consumption`). The leverage mix is a weight vector over tiers and
   every step of the model is linear in it, so one replay scores every mix: C = C_tier · w;
3. scores each (half-life, mix) by the partial Spearman of C and R controlling for the
   excursion (liqtui.model.scoring) on the *first* part of the scored windows in time (the
   training part), picks the best, and reports it, the defaults and the map-free OI ×
   excursion baseline on the *rest* (the test part), which the choice never saw;
4. checks the other knobs one at a time at the chosen point (funding tilt, OI-decrease rule,
   entry spread): a knob is kept only if it gains on the training part *and* the test part.

The grids are coarse on purpose (8 half-lives, leverage mixes in steps of 0.25): few degrees of
freedom, so a result that holds out of sample is not a fit to one period's noise.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from liqtui.events import Liquidation, MarketEvent
from liqtui.model.calibrate import Calibrator, WindowPairs
from liqtui.model.density import MarketModel, ModelParams, preset_weights
from liqtui.model.engine import Engine
from liqtui.model.mechanics import TierTables, shipped_tier_tables
from liqtui.model.scoring import MapScore, partial_spearman, score_windows
from liqtui.presets import FITTED, LEVERAGE_TIERS, PRESETS

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
Step = MarketEvent | int  # an event to apply, or a time to advance the clock to
# 3 h … 16 d, doubling
HALF_LIVES_MS: tuple[int, ...] = tuple(h * HOUR_MS for h in (3, 6, 12, 24, 48, 96, 192, 384))
TURNOVERS: tuple[float, ...] = (0.0, 0.003, 0.01, 0.03, 0.1)  # share of OI per hour
MIX_STEP = 0.25
TRAIN_SHARE = 0.6
# The other knobs, tried one at a time at the chosen point.
KNOBS: tuple[tuple[str, tuple[object, ...]], ...] = (
    ("oi_decrease", ("side-aware", "proportional", "survival-only")),
)
# A knob that moves the partial correlation by less than this is noise.
MIN_GAIN = 0.005


def mix_grid(step: float = MIX_STEP) -> list[tuple[float, ...]]:
    """Leverage mixes: weights on 5x … 100x in multiples of `step` summing to 1, 2x at 0 (2x
    levels lie ±50% away: no window of a few months crosses them, so their weight cannot be
    measured; see docs/model.md), then the named presets."""
    n = round(1 / step)
    tiers = len(LEVERAGE_TIERS) - 1
    mixes = []
    for cut in itertools.combinations(range(n + tiers - 1), tiers - 1):  # stars and bars
        parts = np.diff(np.r_[-1, cut, n + tiers - 1]) - 1
        mixes.append((0.0, *(float(p) * step for p in parts)))
    mixes += [tuple(float(x) for x in preset_weights(name)) for name in PRESETS]
    return mixes


# -- replays -----------------------------------------------------------------------------------


def calibrator_pairs(
    steps: Sequence[Step],
    symbol: str,
    params: ModelParams,
    weights: Sequence[float],
    *,
    window_ms: int,
    warmup_ms: int,
    tiers: TierTables | None = None,
) -> tuple[WindowPairs, list[str]]:
    """A full `liqtui calibrate` run (liqtui.model.calibrate) of `symbol` under `params` with
    the leverage mix `weights`: its (window, side) pairs and the exchanges compared."""
    engine = Engine(
        params=replace(params, keep_history=False),
        preset=FITTED,
        tiers=tiers or shipped_tier_tables(),
        fitted_weights=tuple(weights),
    )
    cal = Calibrator(engine, preset=FITTED, window_ms=window_ms, warmup_ms=warmup_ms)
    cal.symbols = {symbol}
    for s in steps:
        if isinstance(s, int):
            cal.advance(s)
        elif s.symbol == symbol:
            cal.apply(s)
    exchanges = cal.compared_exchanges(symbol)
    return cal.pairs(symbol, exchanges), exchanges


class _TierConsumption:
    """ModelObserver: the model's C per (window, exchange, side, tier), unweighted, counted
    exactly as the Calibrator counts it (same scored start, same window of each step) without
    the rest of its work, so one candidate costs one bare replay."""

    def __init__(self, window_ms: int, warmup_ms: int) -> None:
        self.window_ms = window_ms
        self.warmup_ms = warmup_ms
        self.start_ms: int | None = None
        self.c: dict[tuple[int, str, int], NDArray[np.float64]] = {}

    def _seen(self, t_ms: int) -> bool:
        if self.start_ms is None:
            self.start_ms = t_ms
        return t_ms >= self.start_ms + self.warmup_ms

    def consumed(
        self, model: MarketModel, exchange: str, side: int, lo: int, hit: NDArray[np.float64]
    ) -> None:
        now = model.last_step_ms or 0
        if not self._seen(now):
            return
        key = ((now - 1) // self.window_ms, exchange, side)  # the interval before the step
        acc = self.c.get(key)
        if acc is None:
            self.c[key] = hit.sum(axis=1)
        else:
            acc += hit.sum(axis=1)

    def realized(self, model: MarketModel, event: Liquidation) -> None:
        self._seen(event.time_ms)

    def stepping(self, model: MarketModel, now_ms: int) -> None:
        self._seen(now_ms)

    def stepped(self, model: MarketModel, now_ms: int) -> None:
        self._seen(now_ms)


def tier_consumption(
    steps: Sequence[Step],
    symbol: str,
    params: ModelParams,
    pairs: WindowPairs,
    exchanges: Sequence[str],
    *,
    window_ms: int,
    warmup_ms: int,
    tiers: TierTables | None = None,
) -> NDArray[np.float64]:
    """The model's C per tier (unweighted) under `params`, one row per row of `pairs`."""
    engine = Engine(
        params=replace(params, keep_history=False), tiers=tiers or shipped_tier_tables()
    )
    observer = _TierConsumption(window_ms, warmup_ms)
    engine.market(symbol).observer = observer
    for s in steps:
        if isinstance(s, int):
            engine.advance(s)
        elif s.symbol == symbol:
            engine.apply(s)
    out = np.zeros((pairs.start_ms.size, len(LEVERAGE_TIERS)))
    for row, (start, side) in enumerate(zip(pairs.start_ms, pairs.side, strict=True)):
        for ex in exchanges:
            c = observer.c.get((int(start) // window_ms, ex, int(side)))
            if c is not None:
                out[row] += c
    return out


# -- scoring and choosing -------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """The scored pairs of the training windows and of the test windows (time order)."""

    train: NDArray[np.bool_]
    test: NDArray[np.bool_]
    split_ms: int  # the first test window's start
    n_train_windows: int
    n_test_windows: int


def split_in_time(pairs: WindowPairs, train_share: float) -> Split:
    ok = np.isfinite(pairs.excursion) & np.isfinite(pairs.oi_usd) & np.isfinite(pairs.realized)
    windows = np.unique(pairs.start_ms[ok])
    if windows.size < 10:
        raise ValueError(f"{windows.size} scored windows: too few to fit and test")
    k = max(1, min(windows.size - 1, round(train_share * windows.size)))
    split_ms = int(windows[k])
    return Split(
        ok & (pairs.start_ms < split_ms), ok & (pairs.start_ms >= split_ms), split_ms, k,
        int(windows.size - k),
    )  # fmt: skip


def partial_on(c: NDArray[np.float64], pairs: WindowPairs, rows: NDArray[np.bool_]) -> float:
    """Partial Spearman of C and R given the excursion over `rows` (NaN when undefined)."""
    v = partial_spearman(c[rows], pairs.realized[rows], pairs.excursion[rows])
    return float("nan") if v is None else v


@dataclass(frozen=True)
class Point:
    """One set of the fitted parameters, with its partial Spearman on the training windows
    and (for reading only: the choice never looks at it) on the test windows."""

    half_life_ms: int
    turnover: float
    weights: tuple[float, ...]
    train: float
    test: float


@dataclass(frozen=True)
class Holdout:
    """A full calibrate run's figures on the test windows only: the model, the naive map with
    the same leverage mix, and the OI × excursion baseline, on the same pairs."""

    model: MapScore
    naive: MapScore
    baseline: MapScore
    n_pairs: int
    n_windows: int


@dataclass(frozen=True)
class KnobTrial:
    name: str
    value: str
    train: float
    test: float
    kept: bool  # gains at least MIN_GAIN on the training windows over the chosen point


@dataclass
class FitResult:
    symbol: str
    window_ms: int
    warmup_ms: int
    train_share: float
    split: Split
    exchanges: list[str]
    first_ms: int  # first scored window
    last_ms: int  # end of the last one
    before: Point  # the settings as they are (the configured preset)
    after: Point  # chosen on the training windows
    before_test: Holdout
    after_test: Holdout
    trials: list[Point] = field(default_factory=list)  # best mix per (half-life, turnover)
    knobs: list[KnobTrial] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # knobs that earned their place
    unmeasured_tiers: tuple[int, ...] = ()  # tiers no scored window consumed
    seconds: float = 0.0
    replays: int = 0


def _best_mix(
    c_tier: NDArray[np.float64],
    pairs: WindowPairs,
    split: Split,
    mixes: Sequence[tuple[float, ...]],
) -> tuple[tuple[float, ...], float, float]:
    """The mix with the best training score, unless it gains less than MIN_GAIN over the
    current mix (`mixes[0]`), which then stays: (weights, train, test)."""
    current = partial_on(c_tier @ np.asarray(mixes[0]), pairs, split.train)
    best_w, best = mixes[0], current
    for w in mixes[1:]:
        s = partial_on(c_tier @ np.asarray(w), pairs, split.train)
        if s > best + 1e-12:
            best_w, best = w, s
    if best < current + MIN_GAIN:
        best_w, best = mixes[0], current
    return best_w, best, partial_on(c_tier @ np.asarray(best_w), pairs, split.test)


def holdout(pairs: WindowPairs, weights: Sequence[float], split: Split) -> Holdout:
    rows = split.test
    scores = score_windows(
        pairs.realized[rows],
        pairs.excursion[rows],
        pairs.oi_usd[rows],
        {"model": pairs.model_tiers[rows] @ np.asarray(weights), "naive": pairs.naive[rows]},
        window=pairs.start_ms[rows],
    )
    return Holdout(
        scores.maps["model"], scores.maps["naive"], scores.maps["baseline"], scores.n,
        scores.n_windows,
    )  # fmt: skip


def fit(
    steps: Sequence[Step],
    symbol: str,
    *,
    params: ModelParams,
    weights: Sequence[float],
    window_ms: int = HOUR_MS,
    warmup_ms: int = DAY_MS,
    train_share: float = TRAIN_SHARE,
    half_lives: Sequence[int] = HALF_LIVES_MS,
    turnovers: Sequence[float] = TURNOVERS,
    mixes: Sequence[tuple[float, ...]] | None = None,
    knobs: bool = True,
    tiers: TierTables | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the turnover, half-life and leverage mix of `symbol` on the first `train_share` of
    the scored windows; score the settings as they are (`params`, `weights`) and the fit on
    the rest. Coordinate search: turnover at the current half-life, then the half-life at the
    chosen turnover; every mix of the grid at each point."""
    t0 = time.perf_counter()
    mixes = [tuple(float(x) for x in weights), *(mixes or mix_grid())]  # the current first
    say = progress or (lambda _: None)

    def full(p: ModelParams, w: Sequence[float]) -> tuple[WindowPairs, list[str]]:
        return calibrator_pairs(
            steps, symbol, p, w, window_ms=window_ms, warmup_ms=warmup_ms, tiers=tiers
        )

    pairs0, exchanges = full(params, weights)
    if not exchanges:
        raise ValueError(f"nothing to compare for {symbol}: no exchange with a map and prints")
    split = split_in_time(pairs0, train_share)
    replays = 1

    def bare(p: ModelParams) -> NDArray[np.float64]:
        nonlocal replays
        replays += 1
        return tier_consumption(
            steps, symbol, p, pairs0, exchanges, window_ms=window_ms, warmup_ms=warmup_ms,
            tiers=tiers,
        )  # fmt: skip

    base_h, base_t = params.half_life, params.turnover_per_hour
    c0 = pairs0.model_tiers @ np.asarray(weights)
    before = Point(
        base_h, base_t, tuple(weights), partial_on(c0, pairs0, split.train),
        partial_on(c0, pairs0, split.test),
    )  # fmt: skip
    cache: dict[tuple[int, float], NDArray[np.float64]] = {(base_h, base_t): pairs0.model_tiers}
    trials: list[Point] = []

    def at(h: int, t: float) -> Point:
        c = cache.get((h, t))
        if c is None:
            c = cache[(h, t)] = bare(replace(params, half_life_ms=h, turnover=t))
        w, train, test = _best_mix(c, pairs0, split, mixes)
        point = Point(h, t, w, train, test)
        trials.append(point)
        say(f"half-life {h / HOUR_MS:g}h, turnover {t:g}/h: train {train:+.3f} (test {test:+.3f})")
        return point

    def pick(current: Point, tried: Sequence[Point]) -> Point:
        """The best of `tried`, unless it gains less than MIN_GAIN over the current value:
        a parameter that makes no measurable difference stays where it is."""
        top = max(tried, key=lambda p: p.train)
        return top if top.train >= current.train + MIN_GAIN else current

    here = at(base_h, base_t)
    best_t = pick(here, [at(base_h, t) for t in turnovers if t != base_t])
    best = pick(best_t, [at(h, best_t.turnover) for h in half_lives if h != base_h])
    chosen = replace(params, half_life_ms=best.half_life_ms, turnover=best.turnover)
    result_knobs: list[KnobTrial] = []
    kept: dict[str, str] = {}
    for name, values in KNOBS if knobs else ():
        for value in values:
            if getattr(chosen, name) == value:
                continue
            p = replace(chosen, **{name: value})  # type: ignore[arg-type]
            c = bare(p) @ np.asarray(best.weights)
            train, test = partial_on(c, pairs0, split.train), partial_on(c, pairs0, split.test)
            gain = train >= best.train + MIN_GAIN
            result_knobs.append(KnobTrial(name, str(value), train, test, gain))
            say(f"{name} = {value}: train {train:+.3f} (test {test:+.3f})")
            if gain and train >= max(k.train for k in result_knobs if k.name == name):
                kept[name] = str(value)
    pairs1, _ = full(chosen, best.weights)
    replays += 1
    consumed = pairs1.model_tiers[split.train | split.test].sum(axis=0)
    return FitResult(
        symbol=symbol,
        window_ms=window_ms,
        warmup_ms=warmup_ms,
        train_share=train_share,
        split=split,
        exchanges=exchanges,
        first_ms=int(pairs0.start_ms[split.train | split.test].min()),
        last_ms=int(pairs0.start_ms[split.train | split.test].max()) + window_ms,
        before=before,
        after=best,
        before_test=holdout(pairs0, weights, split),
        after_test=holdout(pairs1, best.weights, split),
        trials=trials,
        knobs=result_knobs,
        kept=kept,
        unmeasured_tiers=tuple(t for t, c in zip(LEVERAGE_TIERS, consumed, strict=True) if c <= 0),
        seconds=time.perf_counter() - t0,
        replays=replays,
    )
