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

from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest
from liqtui.model.density import LONG, SHORT, MarketModel, ModelParams, preset_weights
from liqtui.model.engine import Engine
from liqtui.model.mechanics import TierTables, shipped_tier_tables
from liqtui.model.scoring import baseline_c, partial_spearman, side_excursion, spearman
from liqtui.presets import LEVERAGE_TIERS, PRESETS

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
Step = MarketEvent | int  # an event to apply, or a time to advance the clock to
HALF_LIVES_MS: tuple[int, ...] = tuple(
    h * HOUR_MS for h in (3, 6, 12, 24, 48, 96, 192, 384)
)  # 3 h … 16 d, doubling
MIX_STEP = 0.25
# A knob that moves the partial correlation by less than this on either part is noise.
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


# -- what no parameter changes --------------------------------------------------------------


@dataclass(frozen=True)
class WindowFacts:
    """Per scored window (rows, in time order) and side (LONG, SHORT columns)."""

    start_ms: NDArray[np.int64]
    realized: NDArray[np.float64]  # R, USD (n, 2)
    excursion: NDArray[np.float64]  # (n, 2): the fall and the rise from the open, fractions
    oi_usd: NDArray[np.float64]  # open interest at the start (coins × the open), USD (n,)

    @property
    def n(self) -> int:
        return int(self.start_ms.size)


def window_facts(steps: Sequence[Step], symbol: str, window_ms: int, warmup_ms: int) -> WindowFacts:
    """R, excursion and OI per window of the events of `symbol` (exchange-summed OI; the
    windows after the warm-up that have a price and a known open interest)."""
    opens: dict[int, float] = {}
    highs: dict[int, float] = {}
    lows: dict[int, float] = {}
    oi_at_start: dict[int, float] = {}
    realized: dict[tuple[int, int], float] = {}
    oi: dict[str, float] = {}
    first_ms: int | None = None
    for s in steps:
        if isinstance(s, int):
            first_ms = s if first_ms is None else first_ms
            continue
        if s.symbol != symbol:
            continue
        w = s.time_ms // window_ms
        if type(s) is MarkPrice:
            p = s.mark_price
            if w not in opens:
                opens[w], highs[w], lows[w] = p, p, p
                if oi:
                    oi_at_start[w] = sum(oi.values())
            else:
                highs[w] = max(highs[w], p)
                lows[w] = min(lows[w], p)
        elif type(s) is OpenInterest:
            oi[s.exchange] = s.open_interest
        elif type(s) is Liquidation:
            key = (w, LONG if s.side == "long" else SHORT)
            realized[key] = realized.get(key, 0.0) + s.notional_usd
    start = ((first_ms or 0) + warmup_ms + window_ms - 1) // window_ms
    ws = np.array(sorted(w for w in opens if w >= start and w in oi_at_start), dtype=np.int64)
    o = np.array([opens[w] for w in ws])
    down, up = side_excursion(o, [highs[w] for w in ws], [lows[w] for w in ws])
    r = np.array([[realized.get((w, side), 0.0) for side in (LONG, SHORT)] for w in ws])
    return WindowFacts(
        start_ms=ws * window_ms,
        realized=r.reshape(-1, 2),
        excursion=np.column_stack([down, up]).reshape(-1, 2),
        oi_usd=np.array([oi_at_start[w] for w in ws]) * o,
    )


# -- C per window, side and tier for one set of parameters ----------------------------------


class _TierConsumption:
    """ModelObserver: C per (window, side, tier), unweighted, for one market."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.c: dict[int, NDArray[np.float64]] = {}

    def consumed(
        self, model: MarketModel, exchange: str, side: int, lo: int, hit: NDArray[np.float64]
    ) -> None:
        # The step at `now` closes the interval before it: its marks belong to now − 1.
        w = ((model.last_step_ms or 0) - 1) // self.window_ms
        acc = self.c.get(w)
        if acc is None:
            acc = self.c[w] = np.zeros((2, hit.shape[0]))
        acc[side] += hit.sum(axis=1)

    def realized(self, model: MarketModel, event: Liquidation) -> None:
        pass

    def stepping(self, model: MarketModel, now_ms: int) -> None:
        pass

    def stepped(self, model: MarketModel, now_ms: int) -> None:
        pass


def tier_consumption(
    steps: Sequence[Step],
    symbol: str,
    params: ModelParams,
    facts: WindowFacts,
    window_ms: int,
    tiers: TierTables | None = None,
) -> NDArray[np.float64]:
    """C[window, side, tier] (USD, unweighted) of the windows of `facts` under `params`."""
    engine = Engine(
        params=replace(params, keep_history=False), tiers=tiers or shipped_tier_tables()
    )
    observer = _TierConsumption(window_ms)
    engine.market(symbol).observer = observer
    for s in steps:
        if isinstance(s, int):
            engine.advance(s)
        elif s.symbol == symbol:
            engine.apply(s)
    out = np.zeros((facts.n, 2, len(LEVERAGE_TIERS)))
    for i, start in enumerate(facts.start_ms):
        c = observer.c.get(int(start) // window_ms)
        if c is not None:
            out[i] = c
    return out


# -- scoring and choosing -------------------------------------------------------------------


def _pairs(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, 2) per window and side → one value per (window, side) pair."""
    return a.reshape(-1)


@dataclass(frozen=True)
class Split:
    """Training and test rows of the facts (windows before and after the split time)."""

    train: NDArray[np.bool_]
    split_ms: int

    @property
    def test(self) -> NDArray[np.bool_]:
        return ~self.train


def split_in_time(facts: WindowFacts, train_share: float) -> Split:
    k = max(1, min(facts.n - 1, round(train_share * facts.n)))
    train = np.zeros(facts.n, dtype=bool)
    train[:k] = True
    return Split(train, int(facts.start_ms[k]) if facts.n else 0)


def partial(c: NDArray[np.float64], facts: WindowFacts, rows: NDArray[np.bool_]) -> float:
    """Partial Spearman of C and R given the excursion over the (window, side) pairs of `rows`
    (NaN when undefined)."""
    v = partial_spearman(
        _pairs(c[rows]), _pairs(facts.realized[rows]), _pairs(facts.excursion[rows])
    )
    return float("nan") if v is None else v


def plain(c: NDArray[np.float64], facts: WindowFacts, rows: NDArray[np.bool_]) -> float:
    v = spearman(_pairs(c[rows]), _pairs(facts.realized[rows]))
    return float("nan") if v is None else v


@dataclass(frozen=True)
class Score:
    train: float  # partial Spearman on the training windows
    test: float  # … on the test windows (out of sample)
    test_plain: float  # plain Spearman on the test windows


def score(c: NDArray[np.float64], facts: WindowFacts, split: Split) -> Score:
    return Score(
        partial(c, facts, split.train),
        partial(c, facts, split.test),
        plain(c, facts, split.test),
    )


@dataclass(frozen=True)
class Candidate:
    half_life_ms: int
    weights: tuple[float, ...]
    score: Score


@dataclass(frozen=True)
class KnobTrial:
    name: str  # e.g. "funding_tilt"
    value: str
    score: Score
    kept: bool  # gains at least MIN_GAIN on both parts over the chosen point


@dataclass
class FitResult:
    symbol: str
    window_ms: int
    warmup_ms: int
    train_share: float
    split_ms: int
    n_train: int  # windows
    n_test: int
    first_ms: int
    last_ms: int
    default: Candidate  # the shipped defaults (before)
    best: Candidate  # chosen on the training windows
    per_half_life: list[Candidate]  # the best mix for each half-life
    baseline: Score  # the map-free OI × excursion C
    knobs: list[KnobTrial] = field(default_factory=list)
    kept_params: dict[str, str] = field(default_factory=dict)  # knobs that earned their place
    zero_tiers: tuple[int, ...] = ()  # tiers never consumed in the scored windows
    seconds: float = 0.0
    replays: int = 0


def _best_mix(
    c_tier: NDArray[np.float64],
    facts: WindowFacts,
    split: Split,
    mixes: Sequence[tuple[float, ...]],
) -> tuple[tuple[float, ...], Score]:
    best_w, best_train = mixes[0], -np.inf
    for w in mixes:
        s = partial(c_tier @ np.asarray(w), facts, split.train)
        if s > best_train + 1e-12:
            best_w, best_train = w, s
    return best_w, score(c_tier @ np.asarray(best_w), facts, split)


def fit(
    steps: Sequence[Step],
    symbol: str,
    *,
    params: ModelParams,
    default_half_life_ms: int,
    default_weights: tuple[float, ...],
    window_ms: int = HOUR_MS,
    warmup_ms: int = DAY_MS,
    train_share: float = 0.6,
    half_lives: Sequence[int] = HALF_LIVES_MS,
    mixes: Sequence[tuple[float, ...]] | None = None,
    knobs: bool = True,
    tiers: TierTables | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the half-life and the leverage mix of `symbol` on the first `train_share` of the
    scored windows, score on the rest (see the module docstring)."""
    t0 = time.perf_counter()
    mixes = list(mixes or mix_grid())
    facts = window_facts(steps, symbol, window_ms, warmup_ms)
    if facts.n < 20:
        raise ValueError(
            f"{facts.n} scored windows of {symbol} (with a price and open interest, after the "
            "warm-up): too few to fit"
        )
    split = split_in_time(facts, train_share)
    replays = 0
    per_h: list[Candidate] = []
    c_by_h: dict[int, NDArray[np.float64]] = {}
    for h in sorted(set(half_lives) | {default_half_life_ms}):
        c_tier = tier_consumption(
            steps, symbol, replace(params, half_life_ms=h), facts, window_ms, tiers
        )
        replays += 1
        c_by_h[h] = c_tier
        w, s = _best_mix(c_tier, facts, split, mixes)
        if h in half_lives:
            per_h.append(Candidate(h, w, s))
        if progress is not None:
            progress(f"half-life {h / HOUR_MS:g}h: train {s.train:+.3f}, test {s.test:+.3f}")
    best = max(per_h, key=lambda c: c.score.train)
    default_c = c_by_h[default_half_life_ms] @ np.asarray(default_weights)
    default = Candidate(default_half_life_ms, default_weights, score(default_c, facts, split))
    base = baseline_c(facts.oi_usd[:, None], facts.excursion)
    consumed_any = c_by_h[best.half_life_ms].sum(axis=(0, 1))
    zero = tuple(t for t, c in zip(LEVERAGE_TIERS, consumed_any, strict=True) if c <= 0)
    result = FitResult(
        symbol=symbol,
        window_ms=window_ms,
        warmup_ms=warmup_ms,
        train_share=train_share,
        split_ms=split.split_ms,
        n_train=int(split.train.sum()),
        n_test=int(split.test.sum()),
        first_ms=int(facts.start_ms[0]),
        last_ms=int(facts.start_ms[-1] + window_ms),
        default=default,
        best=best,
        per_half_life=per_h,
        baseline=score(base, facts, split),
        zero_tiers=zero,
    )
    if knobs:
        chosen = replace(params, half_life_ms=best.half_life_ms)
        trials: list[tuple[str, ModelParams]] = [
            ("funding_tilt", replace(chosen, funding_tilt=t)) for t in (0.0, 0.05, 0.15)
        ]
        trials += [
            ("oi_decrease", replace(chosen, oi_decrease=r))
            for r in ("side-aware", "proportional", "survival-only")
        ]
        trials += [("entry_points", replace(chosen, entry_points=n)) for n in (1, 8)]
        for name, p in trials:
            value = str(getattr(p, name))
            if str(getattr(chosen, name)) == value:
                continue  # the chosen point itself
            c = tier_consumption(steps, symbol, p, facts, window_ms, tiers) @ np.asarray(
                best.weights
            )
            replays += 1
            s = score(c, facts, split)
            kept = s.train >= best.score.train + MIN_GAIN and s.test >= best.score.test + MIN_GAIN
            result.knobs.append(KnobTrial(name, value, s, kept))
            if progress is not None:
                progress(f"{name} = {value}: train {s.train:+.3f}, test {s.test:+.3f}")
        for k in result.knobs:
            if k.kept and (
                k.name not in result.kept_params
                or k.score.train
                > max(x.score.train for x in result.knobs if x.name == k.name and x.kept) - 1e-12
            ):
                result.kept_params[k.name] = k.value
    result.seconds = time.perf_counter() - t0
    result.replays = replays
    return result
