"""Offline market simulator behind `liqtui --demo`: a live-looking liquidation map, no network.

`MarketSimulator` produces the same normalized events as the live feeds (MarkPrice, OpenInterest,
TradeFlow, BookDepth, Liquidation) for four simulated exchanges. Its liquidations are not random
prints: it keeps a book of leveraged positions opened as open interest grows, gives each one the
exchange's isolated liquidation price (`liqtui.model.mechanics`), and liquidates it when that
exchange's mark price crosses the level. The estimated liquidation map therefore has something
real to find. Between the cascades, a steady trickle of small prints stands for the positions
it does not track one by one (opened before the simulation, cross-margined accounts running out
of equity): a print every few seconds in the big markets, as real ones print, more of them on
the side the market moves against, at the mark.

The exchanges report as their live feeds do (the registry says how): Bybit every liquidation,
Binance and OKX at most one per market and second, Hyperliquid none (it has no public
liquidation feed; its liquidations still close open interest). Hyperliquid's funding is its
hourly rate and its leverage stops at 40x. Order-book depth (the visible book within 0.5, 1, 2
and 5% of mid, as `liqtui.exchanges.common.reduce_book` reports it) comes every 10 s per
exchange; the book thins to about a third during a cascade (models.md: median depth survival
0.29) and fills back during the recovery, so cascade risk has something to show.

Everything is deterministic given the seed and the sequence of `step()` calls. Each market draws
from its own generator, derived from the seed and the market's name, so adding a market does not
change another market's path; market-wide cascades ("bursts") come from one more generator that
knows no market names, so all markets crash together.

`DemoSource` drives the simulator like a feed: a quick warm-up (hours of history in big steps, so
the map is populated at start-up), then real-time ticks.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liqtui import exchanges as registry
from liqtui.events import (
    BookDepth,
    Liquidation,
    MarketEvent,
    MarkPrice,
    OpenInterest,
    Side,
    TradeFlow,
)
from liqtui.health import FeedHealth
from liqtui.model.mechanics import liquidation_prices
from liqtui.source import EventSink

DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC: a fixed, minute-aligned clock
DEMO_EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid")
# Exchanges that push at most one liquidation per symbol per second (Bybit pushes all of them).
THROTTLED_EXCHANGES: frozenset[str] = registry.throttled()
POSITION_CAP = 3_000  # live simulated positions per market and exchange (oldest are dropped)
OI_INTERVAL_MS = 15_000
FLOW_INTERVAL_MS = 60_000
DEPTH_INTERVAL_MS = 10_000
DEPTH_DISTANCES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)  # as the live feeds reduce books


@dataclass(frozen=True, slots=True)
class _Profile:
    price: float  # starting price
    vol: float  # annualised volatility in calm
    beta: float  # how hard market-wide bursts move this market, relative to BTC
    oi_usd: float  # Binance open interest in USD; the other exchanges are scaled from it


_BTC_OI_USD = 80_000 * 97_000.0
_PROFILES: dict[str, _Profile] = {
    "BTC": _Profile(97_000.0, 0.60, 1.0, _BTC_OI_USD),
    "ETH": _Profile(3_400.0, 0.75, 1.2, 0.8 * _BTC_OI_USD),
    "SOL": _Profile(190.0, 0.95, 1.5, 0.4 * _BTC_OI_USD),
    "XRP": _Profile(2.3, 0.90, 1.4, 0.3 * _BTC_OI_USD),
    "DOGE": _Profile(0.33, 1.00, 1.6, 0.2 * _BTC_OI_USD),
    "BNB": _Profile(690.0, 0.60, 0.9, 0.15 * _BTC_OI_USD),
    "HYPE": _Profile(25.0, 1.10, 1.6, 0.06 * _BTC_OI_USD),  # Hyperliquid's own token
}
# Unknown markets: a mid-cap alt. A fixed price keeps runs comparable across symbol lists.
_DEFAULT_PROFILE = _Profile(10.0, 1.00, 1.5, 0.1 * _BTC_OI_USD)

# binance 80k BTC, bybit 50k, okx 25k, hyperliquid 32k
_EX_OI_WEIGHT = np.array([1.0, 0.625, 0.3125, 0.4])
_THROTTLED = np.array([ex in THROTTLED_EXCHANGES for ex in DEMO_EXCHANGES])
# Exchanges with a public liquidation feed: the others' liquidations are never reported.
_REPORTED = np.array([registry.get(ex).liquidations != "none" for ex in DEMO_EXCHANGES])
# Funding as each exchange states it: per 8 h, Hyperliquid per hour.
_FUNDING_SCALE = np.array([1.0 / 8.0 if ex == "hyperliquid" else 1.0 for ex in DEMO_EXCHANGES])
_MAX_LEVERAGE = {"hyperliquid": 40.0}  # Hyperliquid's BTC/ETH cap; the others allow 100x+
_N_EX = len(DEMO_EXCHANGES)

# Leverage mix of new positions: mostly 5x-25x, a fat tail of degens at 50x-100x.
_LEVERAGES = np.array([2, 3, 5, 10, 20, 25, 50, 75, 100], dtype=np.float64)
_LEVERAGE_CDF = np.cumsum([6, 6, 12, 24, 20, 12, 10, 6, 4]) / 100.0
# liquidation_prices is linear in the entry price when there is no maintenance amount, so one
# call per exchange and side at entry 1.0 gives exact liquidation/entry ratios for every leverage;
# calling it per step would cost more than the rest of the simulation.
_LIQ_RATIO = np.stack(
    [
        np.stack(
            [
                liquidation_prices(
                    ex, side, 1.0, np.minimum(_LEVERAGES, _MAX_LEVERAGE.get(ex, np.inf))
                )
                for side in ("long", "short")
            ]
        )
        for ex in DEMO_EXCHANGES
    ]
)  # shape (exchange, side: 0 long / 1 short, leverage)

_SQRT_YEAR_S = math.sqrt(365.0 * 86_400.0)
_MARKET_CORRELATION = 0.7  # loading of each market's tick noise on a shared market factor
_OWN_NOISE = math.sqrt(1.0 - _MARKET_CORRELATION**2)
_MEAN_REVERSION = 1.0 / (12 * 3600)  # per second on log price: keeps long demos in range
_BURST_VOL = 3.0  # volatility multiplier during a burst
_BURST_GAP_MIN = (20.0, 40.0)  # minutes between burst starts
_BURST_DURATION_S = (20.0, 120.0)
_BURST_MOVE = (0.01, 0.04)  # BTC move over a burst, as a fraction
_BURST_RETRACE = (0.3, 0.8)  # share of the move recovered afterwards (cascades wick)
_BURST_RECOVERY_MIN = (3.0, 15.0)  # minutes the recovery takes
_BURST_OI_DROP = 0.25  # OI closed (besides liquidations) per unit of price move in a burst
_BASIS_SD = 3e-4  # persistent per-exchange mark basis, a few bp
_BASIS_TAU_S = 600.0
_MARK_NOISE = 5e-5  # per-tick mark noise, 0.5 bp
_FUNDING_MEAN = 1e-4
_FUNDING_SD = 5e-5
_FUNDING_TAU_S = 4 * 3600.0
_OPEN_RATE = 0.05 / 3600  # gross OI opened per second in calm, as a fraction of OI
_CLOSE_RATE = 0.04 / 3600  # gross OI closed per second at the target OI
_OI_NOISE = 5e-5  # per sqrt(second): OI wanders, it is not a smooth curve
_OI_FLOOR = 0.2  # never below this fraction of the target (keeps OI positive)
_BURST_ACTIVITY = 2.0  # opens and position arrivals multiplier in a burst (chasing, dip buying)
_TURNOVER = 2.0 / 86_400  # taker volume per second as a fraction of OI (daily volume ≈ 2× OI)
_TRACKED_SHARE = 0.15  # part of new OI that is leveraged isolated positions we simulate
_POSITION_RATE = 0.15  # new simulated positions per second per exchange (both sides)
_POSITION_SIZE_SIGMA = 1.4  # lognormal: many small positions, a few whales
_TRACKED_CLOSE = 0.25 / 3600  # hazard of a simulated position being closed, per second
_ENTRY_SD = 5e-4  # entries scatter a few bp around the mark
_MAX_SLIP = 3e-4  # liquidation fills up to 3 bp beyond the liquidation price
_CHUNK_MS = 60_000  # big steps are simulated in chunks so per-chunk arrays stay small
# The trickle: prints per second in calm (all exchanges, before the feeds' throttling) for a
# market of BTC's open interest, scaling with the square root of a market's OI; in a burst the
# rate follows the activity multiplier. Sizes are lognormal around a small median.
_TRICKLE_RATE = 0.45
_TRICKLE_MEDIAN_USD = 1_500.0
_TRICKLE_SIGMA = 1.3
_TRICKLE_MAX_USD = 250_000.0
_TRICKLE_MEMORY_MS = 30_000  # the side follows the move over the last half minute
# The visible book: USD within 1% of mid as a share of the exchange's open interest (Binance
# BTCUSDT ≈ $244M against ≈ $8B OI, models.md), growing with distance as u^κ up to the reach
# of the exchange's book snapshot (beyond it, the snapshot shows nothing more).
_DEPTH_1PCT_OF_OI = 0.03
_DEPTH_KAPPA = 0.9
_DEPTH_REACH = np.array([0.05, 0.03, 0.04, 0.02])
_DEPTH_NOISE = 0.1  # lognormal, per snapshot and side
_DEPTH_SURVIVAL = 0.3  # share of the book left at the height of a cascade


@dataclass(frozen=True, slots=True)
class _Burst:
    index: int
    start_ms: int
    end_ms: int
    direction: float  # +1 up, -1 down
    move: float  # BTC-scale fractional move over the burst
    recover_end_ms: int  # after the cascade, the price retraces part of the move until then
    retrace: float

    @property
    def rate(self) -> float:
        """Signed drift per second of the cascade for a beta-1 market."""
        return self.direction * self.move * 1000.0 / (self.end_ms - self.start_ms)

    @property
    def recovery_rate(self) -> float:
        """Signed drift per second of the recovery for a beta-1 market."""
        span = self.recover_end_ms - self.end_ms
        return -self.direction * self.move * self.retrace * 1000.0 / span


class _BurstSchedule:
    """Market-wide cascades, generated lazily in time order from their own generator."""

    def __init__(self, rng: np.random.Generator, start_ms: int) -> None:
        self._rng = rng
        self._bursts: list[_Burst] = []
        self._count = 0
        # The first one comes early so even a short warm-up has a cascade on the map.
        self._next_start = start_ms + int(rng.uniform(5.0, 20.0) * 60_000)

    def overlapping(self, t0: int, t1: int) -> list[_Burst]:
        while self._next_start < t1:
            rng = self._rng
            duration = int(rng.uniform(*_BURST_DURATION_S) * 1000)
            direction = 1.0 if rng.random() < 0.5 else -1.0
            move = float(rng.uniform(*_BURST_MOVE))
            recovery = int(rng.uniform(*_BURST_RECOVERY_MIN) * 60_000)
            retrace = float(rng.uniform(*_BURST_RETRACE))
            start = self._next_start
            end = start + duration
            burst = _Burst(self._count, start, end, direction, move, end + recovery, retrace)
            self._bursts.append(burst)
            self._count += 1
            self._next_start = start + int(rng.uniform(*_BURST_GAP_MIN) * 60_000)
        self._bursts = [b for b in self._bursts if b.recover_end_ms > t0]
        return [b for b in self._bursts if b.start_ms < t1]


class _Grid:
    """One chunk's tick grid and everything about it that all markets share."""

    __slots__ = (
        "bursts",
        "cells",
        "chunk_s",
        "depth_idx",
        "depth_mult",
        "dt",
        "exposure",
        "flow_idx",
        "market_z",
        "n",
        "oi_idx",
        "sqrt_dt",
        "tick_idx",
        "ticks",
        "times",
        "vol_mult",
        "zeros",
    )

    def __init__(
        self, start_ms: int, t0: int, t1: int, bursts: list[_Burst], factor: np.random.Generator
    ) -> None:
        # Ticks: every whole second since start inside (t0, t1], and t1 itself.
        first = (t0 - start_ms) // 1000 + 1
        last = (t1 - start_ms) // 1000
        times = list(range(start_ms + first * 1000, start_ms + last * 1000 + 1, 1000))
        if not times or times[-1] != t1:
            times.append(t1)
        self.times = times
        self.n = n = len(times)
        self.ticks = ticks = np.array(times, dtype=np.int64)
        self.tick_idx = np.arange(n)
        self.dt = np.diff(ticks, prepend=t0) / 1000.0  # seconds
        self.sqrt_dt = np.sqrt(self.dt)
        self.chunk_s = (t1 - t0) / 1000.0
        self.market_z = factor.standard_normal(n)  # the market-wide part of every tick's noise
        self.zeros = np.zeros(n)
        self.oi_idx = [i for i, t in enumerate(times) if (t - start_ms) % OI_INTERVAL_MS == 0]
        self.flow_idx = [i for i, t in enumerate(times) if (t - start_ms) % FLOW_INTERVAL_MS == 0]
        self.depth_idx = [i for i, t in enumerate(times) if (t - start_ms) % DEPTH_INTERVAL_MS == 0]
        # (burst, cascade mask, recovery mask) per tick
        self.bursts = [
            (
                b,
                (ticks > b.start_ms) & (ticks <= b.end_ms),
                (ticks > b.end_ms) & (ticks <= b.recover_end_ms),
            )
            for b in bursts
        ]
        in_burst = np.zeros(n, dtype=np.bool_)
        for _, cascade, _ in self.bursts:
            in_burst |= cascade
        self.vol_mult = np.where(in_burst, _BURST_VOL, 1.0)
        # The book: thin through the cascade, filling back in over the recovery.
        mult = np.ones(n)
        for b, cascade, recovering in self.bursts:
            mult[cascade] = _DEPTH_SURVIVAL
            back = (ticks - b.end_ms) / max(b.recover_end_ms - b.end_ms, 1)
            refill = _DEPTH_SURVIVAL + (1.0 - _DEPTH_SURVIVAL) * back
            mult = np.where(recovering, np.minimum(mult, refill), mult)
        self.depth_mult = mult
        self.exposure = self.dt * np.where(in_burst, _BURST_ACTIVITY, 1.0)  # activity-seconds
        # (side, exchange, tick) of every cell of a (2*exchanges, ticks) count array.
        self.cells = np.indices((2, _N_EX, n)).reshape(3, -1)


def _symbol_seed(seed: int, symbol: str) -> np.random.SeedSequence:
    # Keyed by name, not position in the list: adding a market leaves the others' paths alone.
    return np.random.SeedSequence(seed, spawn_key=(1, zlib.crc32(symbol.encode())))


class _Market:
    """State of one simulated market on all exchanges: price, OI, funding, positions."""

    def __init__(self, symbol: str, seed: int, position_cap: int, trickle: float = 1.0) -> None:
        self.symbol = symbol
        self.position_cap = position_cap
        self.trickle = trickle  # the trickle's rate multiplier (0: none)
        self.profile = _PROFILES.get(symbol, _DEFAULT_PROFILE)
        rng = np.random.default_rng(_symbol_seed(seed, symbol))
        self.rng = rng
        self.log_p0 = math.log(self.profile.price)
        self.log_price = self.log_p0
        # The last half minute's ticks (times, log prices): where the trickle's move starts.
        self.recent_t = np.empty(0, dtype=np.int64)
        self.recent_log_price = np.empty(0)
        self.sigma = self.profile.vol / _SQRT_YEAR_S  # per sqrt(second)
        self.basis = rng.normal(0.0, _BASIS_SD, _N_EX)
        self.funding = _FUNDING_MEAN + rng.normal(0.0, _FUNDING_SD, _N_EX)
        self.oi_target = self.profile.oi_usd / self.profile.price * _EX_OI_WEIGHT
        self.oi = self.oi_target * rng.uniform(0.97, 1.03, _N_EX)
        self.burst_factor: dict[int, float] = {}  # this market's share of each burst
        # Simulated positions, structure of arrays in creation order (oldest first).
        self.pos_ex = np.empty(0, dtype=np.int64)
        self.pos_sign = np.empty(0, dtype=np.float64)  # +1 long, -1 short
        self.pos_liq = np.empty(0, dtype=np.float64)
        self.pos_qty = np.empty(0, dtype=np.float64)
        # The current minute's trade flow per exchange.
        self.acc_buy = np.zeros(_N_EX)
        self.acc_sell = np.zeros(_N_EX)
        self.acc_pv = np.zeros(_N_EX)
        self.acc_high = np.full(_N_EX, -np.inf)
        self.acc_low = np.full(_N_EX, np.inf)
        self.last_print_sec = np.full(_N_EX, -1, dtype=np.int64)

    def _burst_rates(self, grid: _Grid) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-tick cascade and recovery drift (per second), scaled by this market's beta."""
        rate = np.zeros(grid.n)
        recovery = np.zeros(grid.n)
        for burst, cascade, recovering in grid.bursts:
            factor = self.burst_factor.get(burst.index)
            if factor is None:
                factor = self.profile.beta * float(self.rng.uniform(0.6, 1.4))
                self.burst_factor = {
                    k: v for k, v in self.burst_factor.items() if k > burst.index - 4
                }
                self.burst_factor[burst.index] = factor
            rate[cascade] += burst.rate * factor
            recovery[recovering] += burst.recovery_rate * factor
        return rate, recovery

    def advance(
        self, grid: _Grid
    ) -> tuple[list[list[float]], list[float], dict[int, list[MarketEvent]]]:
        """Simulate one chunk; returns marks per tick, funding, the other events by tick index."""
        rng = self.rng
        n, dt, sqrt_dt, chunk_s = grid.n, grid.dt, grid.sqrt_dt, grid.chunk_s
        burst_rate, recovery_rate = (
            self._burst_rates(grid) if grid.bursts else (grid.zeros, grid.zeros)
        )
        # One draw for every normal of the chunk: numpy call overhead dominates small chunks.
        k = _N_EX
        normals = rng.standard_normal((1 + 4 * k) * n + 2 * k)
        z = _MARKET_CORRELATION * grid.market_z + _OWN_NOISE * normals[:n]
        basis_z, funding_z = normals[n : n + k], normals[n + k : n + 2 * k]
        noise_z, imb_z, vol_z, oi_z = normals[n + 2 * k :].reshape(4, k, n)

        # Price: GBM with weak mean reversion, plus burst drift and burst volatility.
        vol = self.sigma * grid.vol_mult
        drift = burst_rate + recovery_rate - _MEAN_REVERSION * (self.log_price - self.log_p0)
        ret = (drift - 0.5 * vol * vol) * dt + vol * sqrt_dt * z
        log_path = self.log_price + np.cumsum(ret)
        self.log_price = float(log_path[-1])
        price = np.exp(log_path)

        # Marks: a slow per-exchange basis (AR(1) per chunk) and a little tick noise.
        decay = math.exp(-chunk_s / _BASIS_TAU_S)
        self.basis = self.basis * decay + (math.sqrt(1 - decay * decay) * _BASIS_SD) * basis_z
        marks = price * (1.0 + self.basis[:, None] + _MARK_NOISE * noise_z)
        decay = math.exp(-chunk_s / _FUNDING_TAU_S)
        self.funding = _FUNDING_MEAN + (self.funding - _FUNDING_MEAN) * decay
        self.funding += (math.sqrt(1 - decay * decay) * _FUNDING_SD) * funding_z
        np.clip(self.funding, -0.003, 0.003, out=self.funding)

        # Taker flow: buyers are the aggressors on up-ticks (imbalance follows the return).
        standardized = ret / (self.sigma * sqrt_dt)
        imbalance = np.tanh(0.5 * standardized) * 0.8 + 0.1 * imb_z
        np.clip(imbalance, -0.95, 0.95, out=imbalance)
        oi = self.oi[:, None]
        volume = (
            (oi * _TURNOVER)
            * (grid.exposure * (1.0 + np.abs(standardized)))
            * np.exp(0.6 * vol_z - 0.18)
        )
        buy = volume * (1.0 + imbalance) * 0.5
        sell = volume - buy

        # Open interest flows: opens, closes pulling OI back to its target, extra closes in a
        # burst (deleveraging) in proportion to this market's move, and some noise.
        close_rate = _CLOSE_RATE * (self.oi / self.oi_target) ** 3
        burst_move = np.abs(burst_rate) * dt
        flow = oi * (
            _OPEN_RATE * grid.exposure
            - close_rate[:, None] * dt
            - _BURST_OI_DROP * burst_move
            + _OI_NOISE * sqrt_dt * oi_z
        )

        born = self._open_positions(grid, marks, imbalance)
        liq_qty, extra = self._liquidate(grid, marks, born, self._trickle(grid, marks, log_path))
        self._close_positions(chunk_s, float(burst_move.sum()))

        oi_path = oi + np.cumsum(flow - liq_qty, axis=1)
        np.maximum(oi_path, (_OI_FLOOR * self.oi_target)[:, None], out=oi_path)
        self.oi = oi_path[:, -1].copy()

        for i in grid.oi_idx:
            t = grid.times[i]
            extra.setdefault(i, []).extend(
                OpenInterest(ex, self.symbol, t, value)
                for ex, value in zip(DEMO_EXCHANGES, oi_path[:, i].tolist(), strict=True)
            )
        self._trade_flow(grid, marks, buy, sell, extra)
        self._depth(grid, marks, extra)
        return marks.T.tolist(), (self.funding * _FUNDING_SCALE).tolist(), extra

    def _trickle(
        self, grid: _Grid, marks: NDArray[np.float64], log_path: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """The small prints of this chunk: (exchange, tick, sign, quantity), not yet reported
        (`_liquidate` reports them with the positions' own, through the same throttle)."""
        rng = self.rng
        scale = math.sqrt(self.profile.oi_usd / _BTC_OI_USD)
        rate = _TRICKLE_RATE * scale * self.trickle
        counts = rng.poisson(rate * grid.exposure)
        tick = np.repeat(grid.tick_idx, counts)
        total = tick.size
        # Longs are liquidated as the price falls, shorts as it rises: the side follows the
        # move over the last half minute (this chunk's path, the carried price before it).
        path_t = np.concatenate([self.recent_t, grid.ticks])
        path = np.concatenate([self.recent_log_price, log_path])
        keep = path_t > grid.ticks[-1] - _TRICKLE_MEMORY_MS
        self.recent_t, self.recent_log_price = path_t[keep], path[keep]
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0), np.empty(0)
        # the move since the first tick of the last half minute (path holds every tick)
        start = np.searchsorted(path_t, grid.ticks - _TRICKLE_MEMORY_MS, side="left")
        move = log_path - path[start]
        move_sd = self.sigma * math.sqrt(_TRICKLE_MEMORY_MS / 1000)
        p_long = np.clip(0.5 - 0.4 * np.tanh(move / move_sd), 0.08, 0.92)[tick]
        u, pick, size_z = rng.random((3, total))
        sign = np.where(u < p_long, 1.0, -1.0)
        weights = np.cumsum(_EX_OI_WEIGHT) / _EX_OI_WEIGHT.sum()
        ex = np.minimum(np.searchsorted(weights, pick, side="right"), _N_EX - 1)
        usd = _TRICKLE_MEDIAN_USD * scale * np.exp(_TRICKLE_SIGMA * size_z)
        usd = np.minimum(usd, _TRICKLE_MAX_USD)
        return ex.astype(np.int64), tick.astype(np.int64), sign, usd / marks[ex, tick]

    def _depth(
        self, grid: _Grid, marks: NDArray[np.float64], extra: dict[int, list[MarketEvent]]
    ) -> None:
        """Each exchange's visible book every DEPTH_INTERVAL_MS, reduced to cumulative USD
        within each distance of mid, as the live feeds report it."""
        if not grid.depth_idx:
            return
        idx = np.array(grid.depth_idx)
        noise = np.exp(_DEPTH_NOISE * self.rng.standard_normal((2, _N_EX, idx.size)))
        d = np.array(DEPTH_DISTANCES)
        shape = (np.minimum(d[:, None], _DEPTH_REACH[None, :]) / 0.01) ** _DEPTH_KAPPA  # (d, ex)
        for j, i in enumerate(idx.tolist()):
            mids = marks[:, i]
            one_pct = _DEPTH_1PCT_OF_OI * self.oi * mids * grid.depth_mult[i]  # (ex,)
            for e, name in enumerate(DEMO_EXCHANGES):
                bid = one_pct[e] * noise[0, e, j] * shape[:, e]
                ask = one_pct[e] * noise[1, e, j] * shape[:, e]
                extra.setdefault(i, []).append(
                    BookDepth(
                        name,
                        self.symbol,
                        grid.times[i],
                        float(mids[e]),
                        DEPTH_DISTANCES,
                        tuple(bid.tolist()),
                        tuple(ask.tolist()),
                        float(_DEPTH_REACH[e]),
                        float(_DEPTH_REACH[e]),
                    )
                )

    def _open_positions(
        self, grid: _Grid, marks: NDArray[np.float64], imbalance: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Add new positions; returns the tick each live position was born at (-1: before)."""
        rng = self.rng
        # Longs and shorts share every unit of new OI; the aggressor side gets the larger share
        # of the leveraged (liquidatable) positions.
        long_share = np.clip(0.5 + 0.3 * imbalance, 0.15, 0.85)
        lam = _POSITION_RATE * grid.exposure
        counts = rng.poisson(np.concatenate([lam * long_share, lam * (1.0 - long_share)]))
        total = int(counts.sum())
        old = self.pos_liq.size
        if total == 0:
            return np.full(old, -1, dtype=np.int64)
        flat = counts.ravel()
        side_idx, ex_idx, tick_idx = (np.repeat(a, flat) for a in grid.cells)
        lev_idx = np.searchsorted(_LEVERAGE_CDF, rng.random(total), side="right")
        lev_idx = np.minimum(lev_idx, _LEVERAGES.size - 1)
        entry_z, size_z = rng.standard_normal((2, total))
        entry = marks[ex_idx, tick_idx] * (1.0 + _ENTRY_SD * entry_z)
        liq = entry * _LIQ_RATIO[ex_idx, side_idx, lev_idx]
        # Mean size: both sides together carry _TRACKED_SHARE of the new OI, on average.
        mean_qty = 2.0 * _TRACKED_SHARE * self.oi * _OPEN_RATE / _POSITION_RATE
        sigma = _POSITION_SIZE_SIGMA
        qty = mean_qty[ex_idx] * np.exp(sigma * size_z - 0.5 * sigma * sigma)
        self.pos_ex = np.concatenate([self.pos_ex, ex_idx])
        self.pos_sign = np.concatenate([self.pos_sign, 1.0 - 2.0 * side_idx])
        self.pos_liq = np.concatenate([self.pos_liq, liq])
        self.pos_qty = np.concatenate([self.pos_qty, qty])
        return np.concatenate([np.full(old, -1, dtype=np.int64), tick_idx])

    def _keep(self, mask: NDArray[np.bool_]) -> None:
        self.pos_ex = self.pos_ex[mask]
        self.pos_sign = self.pos_sign[mask]
        self.pos_liq = self.pos_liq[mask]
        self.pos_qty = self.pos_qty[mask]

    def _liquidate(
        self,
        grid: _Grid,
        marks: NDArray[np.float64],
        born: NDArray[np.int64],
        trickle: tuple[
            NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]
        ],
    ) -> tuple[NDArray[np.float64], dict[int, list[MarketEvent]]]:
        """Liquidate positions whose exchange's mark crossed their level after they were born,
        and the trickle's (exchange, tick, sign, quantity) at the mark.

        Returns the liquidated quantity per (exchange, tick) and the reported Liquidation events
        keyed by tick index.
        """
        n, ticks = grid.n, grid.ticks
        liq_qty = np.zeros((_N_EX, n))
        extra: dict[int, list[MarketEvent]] = {}
        t_ex, t_tick, t_sign, t_qty = trickle
        # The trickle fills at the mark, up to _MAX_SLIP beyond it.
        t_price = marks[t_ex, t_tick] / (1.0 + t_sign * self.rng.uniform(0.0, _MAX_SLIP, t_ex.size))
        h_ex, h_sign, h_qty, price, tick = t_ex, t_sign, t_qty, t_price, t_tick
        ex, sign, level = self.pos_ex, self.pos_sign, self.pos_liq
        # Cheap 1-D prefilter: only positions whose level lies inside this chunk's mark range.
        low = marks.min(axis=1)[ex]
        high = marks.max(axis=1)[ex]
        cand = np.flatnonzero(np.where(sign > 0, low <= level, high >= level))
        # long: mark <= liq; short: mark >= liq; and only on ticks after the position opened.
        path = marks[ex[cand]]
        crossed = sign[cand, None] * (path - level[cand, None]) <= 0.0
        crossed &= grid.tick_idx > born[cand, None]
        hit = crossed.any(axis=1)
        if hit.any():
            idx = cand[hit]
            p_tick = crossed[hit].argmax(axis=1)
            p_price = level[idx] * (1.0 - sign[idx] * self.rng.uniform(0.0, _MAX_SLIP, idx.size))
            h_ex = np.concatenate([ex[idx], h_ex])
            h_sign = np.concatenate([sign[idx], h_sign])
            h_qty = np.concatenate([self.pos_qty[idx], h_qty])
            price = np.concatenate([p_price, price])
            tick = np.concatenate([p_tick, tick])
            keep = np.ones(self.pos_liq.size, dtype=np.bool_)
            keep[idx] = False
            self._keep(keep)
        if h_ex.size == 0:
            return liq_qty, extra
        # Every liquidation reduces OI, reported or not.
        liq_qty += np.bincount(h_ex * n + tick, weights=h_qty, minlength=_N_EX * n).reshape(
            _N_EX, n
        )
        report = self._throttle(h_ex, ticks[tick] // 1000, tick) & _REPORTED[h_ex]
        order = np.lexsort((h_ex[report], tick[report]))
        rows = zip(
            tick[report][order].tolist(),
            h_ex[report][order].tolist(),
            h_sign[report][order].tolist(),
            price[report][order].tolist(),
            h_qty[report][order].tolist(),
            strict=True,
        )
        for i, e, s, p, q in rows:
            side: Side = "long" if s > 0 else "short"
            event = Liquidation(DEMO_EXCHANGES[e], self.symbol, int(ticks[i]), side, p, q, q * p)
            extra.setdefault(i, []).append(event)
        return liq_qty, extra

    def _throttle(
        self, ex: NDArray[np.int64], second: NDArray[np.int64], tick: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Which liquidations the feeds report: all on Bybit, the latest per second elsewhere.

        A second that spans two steps keeps the print of the first step (a feed cannot take a
        print back); within one step the latest of the second wins.
        """
        report = np.ones(ex.size, dtype=np.bool_)
        throttled = np.flatnonzero(_THROTTLED[ex])
        if throttled.size == 0:
            return report
        report[throttled] = False
        t_ex, t_sec, t_tick = ex[throttled], second[throttled], tick[throttled]
        order = np.lexsort((t_tick, t_sec, t_ex))
        s_ex, s_sec = t_ex[order], t_sec[order]
        last = np.ones(order.size, dtype=np.bool_)
        last[:-1] = (s_ex[1:] != s_ex[:-1]) | (s_sec[1:] != s_sec[:-1])
        last &= s_sec != self.last_print_sec[s_ex]
        chosen = order[last]
        report[throttled[chosen]] = True
        np.maximum.at(self.last_print_sec, t_ex[chosen], t_sec[chosen])
        return report

    def _close_positions(self, chunk_s: float, burst_move: float) -> None:
        """Independent closes (take profit, stop loss), more of them while the market cascades."""
        size = self.pos_liq.size
        if size == 0:
            return
        # Leveraged traders cut faster than the market as a whole when it cascades (3x).
        hazard = _TRACKED_CLOSE * chunk_s + 3.0 * _BURST_OI_DROP * burst_move
        keep = self.rng.random(size) >= -math.expm1(-hazard)
        # Memory bound: past the cap, the oldest positions of that exchange stop being tracked.
        counts = np.bincount(self.pos_ex[keep], minlength=_N_EX)
        cap = self.position_cap
        for e in np.flatnonzero(counts > cap).tolist():
            live = np.flatnonzero(keep & (self.pos_ex == e))
            keep[live[: live.size - cap]] = False
        if not keep.all():
            self._keep(keep)

    def _trade_flow(
        self,
        grid: _Grid,
        marks: NDArray[np.float64],
        buy: NDArray[np.float64],
        sell: NDArray[np.float64],
        extra: dict[int, list[MarketEvent]],
    ) -> None:
        """Accumulate the minute's taker flow; emit a TradeFlow per exchange at each minute."""
        prev = 0
        for b in [*grid.flow_idx, None]:  # None: the tail, carried into the next minute
            stop = grid.n if b is None else b + 1
            if prev < stop:
                seg = slice(prev, stop)
                seg_marks = marks[:, seg]
                seg_buy, seg_sell = buy[:, seg], sell[:, seg]
                self.acc_buy += seg_buy.sum(axis=1)
                self.acc_sell += seg_sell.sum(axis=1)
                self.acc_pv += (seg_marks * (seg_buy + seg_sell)).sum(axis=1)
                np.maximum(self.acc_high, seg_marks.max(axis=1), out=self.acc_high)
                np.minimum(self.acc_low, seg_marks.min(axis=1), out=self.acc_low)
            prev = stop
            if b is None:
                break
            vwap = self.acc_pv / (self.acc_buy + self.acc_sell)
            np.clip(vwap, self.acc_low, self.acc_high, out=vwap)  # rounding must not escape
            t = grid.times[b]
            rows = zip(
                DEMO_EXCHANGES,
                self.acc_buy.tolist(),
                self.acc_sell.tolist(),
                vwap.tolist(),
                self.acc_high.tolist(),
                self.acc_low.tolist(),
                strict=True,
            )
            extra.setdefault(b, []).extend(
                TradeFlow(ex, self.symbol, t, FLOW_INTERVAL_MS, buy_q, sell_q, vw, high, low)
                for ex, buy_q, sell_q, vw, high, low in rows
            )
            self.acc_buy[:] = 0.0
            self.acc_sell[:] = 0.0
            self.acc_pv[:] = 0.0
            self.acc_high[:] = -np.inf
            self.acc_low[:] = np.inf


class MarketSimulator:
    """Deterministic simulated perpetual-swap markets on binance, bybit, okx and hyperliquid.

    `step(dt_ms)` advances the clock and returns that interval's events in time order. Marks are
    published every simulated second (every step when steps are shorter), open interest every
    15 s, order-book depth every 10 s and trade flow every minute of simulated time since
    `start_ms`.
    """

    exchanges: tuple[str, ...] = DEMO_EXCHANGES

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int = 0,
        start_ms: int = DEFAULT_START_MS,
        *,
        position_cap: int = POSITION_CAP,
        trickle: float = 1.0,
    ) -> None:
        """`trickle`: the rate of the small prints between cascades, as a multiple of the
        default (0: only the tracked positions' liquidations)."""
        keys = list(dict.fromkeys(symbols))
        if not keys:
            raise ValueError("the simulator needs at least one symbol")
        if position_cap < 1:
            raise ValueError("position_cap must be at least 1")
        self._start_ms = int(start_ms)
        self._now_ms = self._start_ms
        # Market-wide randomness knows no market names (so adding a market changes nothing
        # else). Bursts are generated by time alone, so they come at the same times whatever the
        # step sizes; the factor is drawn per chunk.
        self._bursts = _BurstSchedule(
            np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))), self._start_ms
        )
        self._factor = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
        self._markets = {symbol: _Market(symbol, seed, position_cap, trickle) for symbol in keys}

    @property
    def now_ms(self) -> int:
        return self._now_ms

    @property
    def start_ms(self) -> int:
        return self._start_ms

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._markets)

    def price(self, symbol: str) -> float:
        """The current (index) price of a market, before exchange basis."""
        return math.exp(self._markets[symbol].log_price)

    def open_interest(self, symbol: str, exchange: str) -> float:
        return float(self._markets[symbol].oi[DEMO_EXCHANGES.index(exchange)])

    def position_count(self, symbol: str, exchange: str) -> int:
        """Live simulated positions of a market on one exchange (at most POSITION_CAP)."""
        market = self._markets[symbol]
        return int(np.count_nonzero(market.pos_ex == DEMO_EXCHANGES.index(exchange)))

    def step(self, dt_ms: int) -> list[MarketEvent]:
        if dt_ms < 0:
            raise ValueError("dt_ms must not be negative")
        events: list[MarketEvent] = []
        end = self._now_ms + int(dt_ms)
        while self._now_ms < end:
            t1 = min(end, self._now_ms + _CHUNK_MS)
            self._chunk(self._now_ms, t1, events)
            self._now_ms = t1
        return events

    def _chunk(self, t0: int, t1: int, events: list[MarketEvent]) -> None:
        grid = _Grid(self._start_ms, t0, t1, self._bursts.overlapping(t0, t1), self._factor)
        results = [(market.symbol, *market.advance(grid)) for market in self._markets.values()]
        # Interleave markets tick by tick so the step's events come out in time order; at one
        # instant a mark comes before the liquidations it triggers.
        append = events.append
        for i, t in enumerate(grid.times):
            for symbol, marks, funding, extra in results:
                for ex, mark, rate in zip(DEMO_EXCHANGES, marks[i], funding, strict=True):
                    append(MarkPrice(ex, symbol, t, mark, rate))
                more = extra.get(i)
                if more:
                    events.extend(more)


class DemoSource:
    """Feeds a sink from the simulator: a fast warm-up, then live ticks. Never touches the net."""

    name = "demo"
    # Warm-up steps: marks still tick every simulated second inside a step; bigger steps only
    # cut per-step overhead (6 h of 3 markets: ~4.5 s with 5 s steps, ~1.2 s with 30 s).
    warmup_step_ms = 30_000
    yield_every = 10  # warm-up steps between yields to the event loop (~20 ms of work)

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int = 0,
        *,
        speed: float = 1.0,
        tick_ms: int = 250,
        warmup_ms: int = 6 * 3600 * 1000,
        start_ms: int | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        if tick_ms <= 0:
            raise ValueError("tick_ms must be positive")
        if warmup_ms < 0:
            raise ValueError("warmup_ms must not be negative")
        if start_ms is None:
            # The warm-up ends at "now" (to the second, so ticks land on whole seconds); the
            # wall clock only shifts timestamps, the content depends on the seed alone.
            start_ms = (time.time_ns() // 1_000_000 - warmup_ms) // 1000 * 1000
        self.speed = speed
        self.tick_ms = tick_ms
        self.warmup_ms = warmup_ms
        self.sim = MarketSimulator(symbols, seed, start_ms)
        self._warm = False

    @property
    def live_from_ms(self) -> int:
        """Simulated time where the warm-up ends and the demo plays as the present (from then
        on its events are newer than the app's start: alerts, see the app)."""
        return self.sim.start_ms + self.warmup_ms

    def _deliver(self, sink: EventSink, events: list[MarketEvent]) -> None:
        for event in events:
            sink.apply(event)
        sink.advance(self.sim.now_ms)

    def _health(self, sink: EventSink) -> FeedHealth:
        health = sink.feed(self.name)
        health.state = "simulated"
        health.note = "simulated market, not real data"
        health.liquidations_complete = None
        return health

    def _warm_steps(self) -> list[int]:
        if self._warm:
            return []
        self._warm = True
        full, rest = divmod(self.warmup_ms, self.warmup_step_ms)
        return [self.warmup_step_ms] * full + ([rest] if rest else [])

    async def run(self, sink: EventSink) -> None:
        health = self._health(sink)
        for k, dt in enumerate(self._warm_steps(), start=1):
            events = self.sim.step(dt)
            self._deliver(sink, events)
            health.messages += len(events)
            health.last_event_ms = self.sim.now_ms
            if k % self.yield_every == 0:
                await asyncio.sleep(0)  # keep the UI responsive during warm-up
        dt_live = max(1, int(self.tick_ms * self.speed))
        loop = asyncio.get_running_loop()
        period = self.tick_ms / 1000
        next_at = loop.time()
        while True:
            # Pace by deadlines so step processing does not make the clock drift behind; after
            # a long stall (suspended laptop) resume from now instead of racing to catch up.
            next_at += period
            delay = next_at - loop.time()
            if delay < -5.0:
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(max(0.0, delay))
            events = self.sim.step(dt_live)
            self._deliver(sink, events)
            health.messages += len(events)
            health.last_event_ms = self.sim.now_ms

    def run_sync(self, sink: EventSink, duration_ms: int = 0) -> None:
        """Warm up, then simulate `duration_ms` more in tick_ms steps, without sleeping."""
        health = self._health(sink)
        steps = self._warm_steps()
        full, rest = divmod(max(0, duration_ms), self.tick_ms)
        steps += [self.tick_ms] * full + ([rest] if rest else [])
        for dt in steps:
            events = self.sim.step(dt)
            self._deliver(sink, events)
            health.messages += len(events)
            health.last_event_ms = self.sim.now_ms
