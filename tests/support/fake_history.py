"""The history endpoints of the fake exchanges (tests/support/fake_exchanges.py): deterministic
1m bars, 5-minute open interest and 8-hourly funding per market, answered in each exchange's own
shapes, limits and errors.

Data: `MarketHistory` is a seeded random walk per market (numpy, deterministic for the fake's
seed and the market), anchored so that its minute at `end_ms` (where the fake's live market
starts) closes at the simulator's price then; it runs `days` back and `ahead_days` on, so the
REST history also covers the live part (with its own, slightly different path). Each exchange
sees the same market scaled by its share of volume and open interest.

Answers (`answer(exchange, path, query_or_body, now_ms)` → (status, JSON, headers)):
- Binance: openInterestHist (period 5m, limit ≤ 500, only the last 30 days: an older startTime
  is refused with -1130), klines 1m (limit ≤ 1500, oldest first, the open bar included),
  fundingRate (limit ≤ 1000);
- Bybit: open-interest (intervalTime 5min, limit ≤ 200, newest first, `nextPageCursor` when the
  range holds more), kline (limit ≤ 1000, newest first), funding/history (limit ≤ 200);
- OKX: rubik open-interest-history (only the latest 1,440 points, begin/end exclusive, ≤ 100),
  history-candles (after/before exclusive, ≤ 300, newest first, the open bar unconfirmed),
  funding-rate-history (≤ 400);
- Hyperliquid: candleSnapshot (only the latest 5,000 bars).

Faults (`HistoryFaults`, per exchange): the next `rate_limited` answers are 429 with Retry-After,
the next `failing` ones 503; `page_cap` cuts every page short; `gaps` are stretches without data
(maintenance); `malformed` adds one broken item to every page.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MINUTE_MS = 60_000
FIVE_MIN_MS = 300_000
FUNDING_MS = 8 * 3_600_000
DAY_MS = 86_400_000
BINANCE_OI_DAYS = 30
OKX_OI_POINTS = 1440
HL_CANDLES = 5000
SHARE = {"binance": 1.0, "bybit": 0.6, "okx": 0.4, "hyperliquid": 0.25}
CT_VAL = {"BTC": 0.01, "ETH": 0.1, "SOL": 1.0, "XRP": 100.0, "DOGE": 1000.0, "BNB": 0.01}


@dataclass
class HistoryFaults:
    rate_limited: int = 0  # the next n history requests: 429
    retry_after: str = "1"  # seconds, as the Retry-After header
    failing: int = 0  # the next n history requests: 503
    page_cap: int | None = None  # at most this many items per answer
    gaps: list[tuple[int, int]] = field(default_factory=list)  # [a, b): no data
    malformed: bool = False  # one broken item in every page


class MarketHistory:
    """Minute bars, 5-minute OI and funding of one market, from `end_ms - days` on."""

    def __init__(
        self, key: str, seed: int, end_ms: int, price: float, *, days: int = 31,
        ahead_days: int = 2, open_interest: Mapping[str, float] | None = None,
    ) -> None:  # fmt: skip
        """`open_interest`: each exchange's OI (base units, as its live feed reports it) at
        `end_ms`, where the history meets the live market: without it, one made-up level
        ($8B over the exchanges by SHARE). A history that ended elsewhere than the live OI
        would read as a mass of closed positions at the seam."""
        self.key = key
        end = end_ms - end_ms % MINUTE_MS
        self.origin = end - days * DAY_MS
        n = (days + ahead_days) * 1440
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        steps = rng.normal(0.0, 0.0007, n)
        log_close = np.cumsum(steps)
        log_close += math.log(price) - log_close[days * 1440]
        close = np.exp(log_close)
        open_ = np.concatenate([[close[0] / math.exp(steps[0])], close[:-1]])
        wick = np.abs(rng.normal(0.0, 0.0003, (2, n)))
        self.open, self.close = open_, close
        self.high = np.maximum(open_, close) * (1 + wick[0])
        self.low = np.minimum(open_, close) * (1 - wick[1])
        notional = 2e6 * np.exp(rng.normal(0.0, 0.5, n))  # USD a minute
        self.volume = notional / close
        self.buy_share = 0.5 + 0.15 * np.tanh(steps / 0.0007)
        self.vwap = (open_ + self.high + self.low + close) / 4
        m = n // 5
        oi_steps = rng.normal(0.0, 0.002, m)
        log_oi = np.cumsum(oi_steps)
        self.oi = np.exp(log_oi - log_oi[days * 1440 // 5])  # 1.0 at end_ms
        self.oi_level = dict(open_interest or {ex: 8e9 / price * s for ex, s in SHARE.items()})
        k = n * MINUTE_MS // FUNDING_MS + 1
        self.funding = 1e-4 + rng.normal(0.0, 5e-5, k)

    def minutes(self, lo: int, hi: int, now: int) -> list[int]:
        """Minute starts in [lo, hi] that have begun by `now` and lie in the data."""
        first = max(lo, self.origin)
        first += -first % MINUTE_MS
        last = min(hi, now, self.origin + (len(self.close) - 1) * MINUTE_MS)
        return list(range(first, last + 1, MINUTE_MS)) if first <= last else []

    def bar(self, t: int, share: float) -> tuple[float, float, float, float, float, float, float]:
        """open, high, low, close, volume (base), taker-buy volume, quote volume."""
        i = (t - self.origin) // MINUTE_MS
        volume = float(self.volume[i]) * share
        return (
            float(self.open[i]), float(self.high[i]), float(self.low[i]), float(self.close[i]),
            volume, volume * float(self.buy_share[i]), volume * float(self.vwap[i]),
        )  # fmt: skip

    def oi_points(self, lo: int, hi: int, now: int) -> list[int]:
        first = max(lo, self.origin)
        first += -first % FIVE_MIN_MS
        last = min(hi, now, self.origin + (len(self.oi) - 1) * FIVE_MIN_MS)
        return list(range(first, last + 1, FIVE_MIN_MS)) if first <= last else []

    def oi_at(self, t: int, exchange: str) -> float:
        """`exchange`'s open interest at `t` (base units, one side)."""
        return float(self.oi[(t - self.origin) // FIVE_MIN_MS]) * self.oi_level[exchange]

    def settlements(self, lo: int, hi: int, now: int) -> list[int]:
        first = max(lo, self.origin)
        first += -first % FUNDING_MS
        last = min(hi, now)
        return list(range(first, last + 1, FUNDING_MS)) if first <= last else []

    def funding_at(self, t: int) -> float:
        return float(self.funding[(t - self.origin) // FUNDING_MS % len(self.funding)])


def _s(x: float, digits: int = 8) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1e8 else f"{x:.2f}"


Answer = tuple[int, Any, dict[str, str]]


class HistoryServer:
    """Answers the history requests of every fake exchange."""

    def __init__(self, histories: Mapping[str, MarketHistory]) -> None:
        self.histories = histories
        self.faults: dict[str, HistoryFaults] = {}
        self.requests: dict[str, int] = {}

    def fault(self, exchange: str) -> HistoryFaults:
        return self.faults.setdefault(exchange, HistoryFaults())

    def answer(self, exchange: str, path: str, q: Mapping[str, Any], now: int) -> Answer:
        self.requests[exchange] = self.requests.get(exchange, 0) + 1
        faults = self.fault(exchange)
        if faults.rate_limited > 0:
            faults.rate_limited -= 1
            body = {"code": -1003, "msg": "Too many requests"}
            if exchange == "okx":
                body = {"code": "50011", "msg": "Too Many Requests", "data": []}
            return 429, body, {"Retry-After": faults.retry_after}
        if faults.failing > 0:
            faults.failing -= 1
            return 503, {"msg": "Service Unavailable"}, {}
        handler = getattr(
            self, f"_{exchange}_{path.strip('/').replace('/', '_').replace('-', '_')}", None
        )
        if handler is None:
            return 404, {"msg": "not found"}, {}
        try:
            return handler(q, now, faults)  # type: ignore[no-any-return]
        except (KeyError, ValueError, TypeError) as exc:
            return 400, {"code": -1102, "msg": f"bad parameter: {exc}"}, {}

    # -- helpers ------------------------------------------------------------------------------
    def _market(self, symbol: object, suffix: str) -> MarketHistory | None:
        if not isinstance(symbol, str) or not symbol.endswith(suffix):
            return None
        return self.histories.get(symbol[: -len(suffix)])

    @staticmethod
    def _keep(times: list[int], faults: HistoryFaults) -> list[int]:
        return [t for t in times if not any(a <= t < b for a, b in faults.gaps)]

    @staticmethod
    def _cap(items: list[Any], limit: int, faults: HistoryFaults, *, newest_first: bool) -> Any:
        cap = min(limit, faults.page_cap or limit)
        items = items[::-1] if newest_first else items
        return items[:cap]

    # -- Binance ------------------------------------------------------------------------------
    @staticmethod
    def _binance_error(code: int, msg: str) -> Answer:
        return 400, {"code": code, "msg": msg}, {}

    def _binance_futures_data_openInterestHist(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("symbol"), "USDT")
        if h is None:
            return self._binance_error(-1121, "Invalid symbol.")
        if q.get("period") != "5m":
            return self._binance_error(-1120, "Invalid period.")
        limit = int(q.get("limit", 30))
        if not 1 <= limit <= 500:
            return self._binance_error(-1130, "Data sent for parameter 'limit' is not valid.")
        start, end = int(q.get("startTime", now - 30 * FIVE_MIN_MS)), int(q.get("endTime", now))
        if start < now - BINANCE_OI_DAYS * DAY_MS:
            return self._binance_error(-1130, "Data sent for parameter 'startTime' is not valid.")
        times = self._keep(h.oi_points(start, end, now), faults)
        oi = {t: h.oi_at(t, "binance") for t in times}
        items: list[Any] = [
            {"symbol": f"{h.key}USDT", "sumOpenInterest": _s(oi[t]),
             "sumOpenInterestValue": _s(oi[t] * h.bar(min(t, now - MINUTE_MS), 1)[3]),
             "timestamp": t}
            for t in times
        ]  # fmt: skip
        items = self._cap(items, limit, faults, newest_first=False)
        if faults.malformed and items:
            items.append({"symbol": f"{h.key}USDT", "sumOpenInterest": "-", "timestamp": now})
        return 200, items, {}

    def _binance_fapi_v1_klines(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("symbol"), "USDT")
        if h is None:
            return self._binance_error(-1121, "Invalid symbol.")
        if q.get("interval") != "1m":
            return self._binance_error(-1120, "Invalid interval.")
        limit = int(q.get("limit", 500))
        if not 1 <= limit <= 1500:
            return self._binance_error(-1130, "Data sent for parameter 'limit' is not valid.")
        start = int(q.get("startTime", now - limit * MINUTE_MS))
        end = int(q.get("endTime", now))
        rows: list[Any] = []
        for t in self._keep(h.minutes(start, end, now), faults):
            o, hi, lo, c, v, buy, quote = h.bar(t, SHARE["binance"])
            rows.append([t, _s(o), _s(hi), _s(lo), _s(c), _s(v), t + MINUTE_MS - 1, _s(quote),
                         100, _s(buy), _s(buy * quote / v), "0"])  # fmt: skip
        rows = self._cap(rows, limit, faults, newest_first=False)
        if faults.malformed and rows:
            rows.append([now, "x"])
        return 200, rows, {}

    def _binance_fapi_v1_fundingRate(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("symbol"), "USDT")
        if h is None:
            return self._binance_error(-1121, "Invalid symbol.")
        limit = min(int(q.get("limit", 100)), 1000)
        start, end = int(q.get("startTime", h.origin)), int(q.get("endTime", now))
        items = [
            {"symbol": f"{h.key}USDT", "fundingTime": t, "fundingRate": _s(h.funding_at(t), 6),
             "markPrice": _s(h.bar(min(t, now - MINUTE_MS), 1)[3])}
            for t in self._keep(h.settlements(start, end, now), faults)
        ]  # fmt: skip
        return 200, self._cap(items, limit, faults, newest_first=False), {}

    # -- Bybit --------------------------------------------------------------------------------
    @staticmethod
    def _bybit(result: dict[str, Any], now: int) -> Answer:
        return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                     "time": now}, {}  # fmt: skip

    @staticmethod
    def _bybit_error(msg: str, now: int) -> Answer:
        return 200, {"retCode": 10001, "retMsg": msg, "result": {}, "retExtInfo": {},
                     "time": now}, {}  # fmt: skip

    def _bybit_v5_market_open_interest(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("symbol"), "USDT")
        if h is None or q.get("category") != "linear":
            return self._bybit_error("params error: symbol invalid", now)
        if q.get("intervalTime") != "5min":
            return self._bybit_error("params error: intervalTime invalid", now)
        limit = int(q.get("limit", 50))
        if not 1 <= limit <= 200:
            return self._bybit_error("params error: limit invalid", now)
        end = int(q.get("endTime", now))
        start = int(q.get("startTime", 0)) if "endTime" in q else 0  # startTime alone: ignored
        cursor = q.get("cursor")
        if cursor:  # the opaque cursor holds the newest time still to send
            end = int(str(cursor).split(":")[1])
        times = self._keep(h.oi_points(start, end, now), faults)[::-1]
        cap = min(limit, faults.page_cap or limit)
        page, rest = times[:cap], times[cap:]
        items: list[Any] = [
            {"openInterest": _s(2 * h.oi_at(t, "bybit")), "timestamp": str(t)} for t in page
        ]
        if faults.malformed and items:
            items.append({"openInterest": "NaN?", "timestamp": str(now)})
        result = {"symbol": f"{h.key}USDT", "category": "linear", "list": items,
                  "nextPageCursor": f"end:{rest[0]}" if rest else ""}  # fmt: skip
        return self._bybit(result, now)

    def _bybit_v5_market_kline(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("symbol"), "USDT")
        if h is None or q.get("category") != "linear" or q.get("interval") != "1":
            return self._bybit_error("params error", now)
        limit = int(q.get("limit", 200))
        if not 1 <= limit <= 1000:
            return self._bybit_error("params error: limit invalid", now)
        end = int(q.get("end", now))
        start = int(q.get("start", end - limit * MINUTE_MS))
        rows: list[Any] = []
        for t in self._keep(h.minutes(start, end, now), faults):
            o, hi, lo, c, v, _, quote = h.bar(t, SHARE["bybit"])
            rows.append([str(t), _s(o), _s(hi), _s(lo), _s(c), _s(v), _s(quote)])
        rows = self._cap(rows, limit, faults, newest_first=True)
        if faults.malformed and rows:
            rows.append([str(now), "1", "0.5", "2", "1", "1", "1"])  # high below low
        return self._bybit({"symbol": f"{h.key}USDT", "category": "linear", "list": rows}, now)

    def _bybit_v5_market_funding_history(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("symbol"), "USDT")
        if h is None or q.get("category") != "linear":
            return self._bybit_error("params error: symbol invalid", now)
        limit = min(int(q.get("limit", 200)), 200)
        start, end = int(q.get("startTime", h.origin)), int(q.get("endTime", now))
        items = [
            {"symbol": f"{h.key}USDT", "fundingRate": _s(h.funding_at(t), 6),
             "fundingRateTimestamp": str(t)}
            for t in self._keep(h.settlements(start, end, now), faults)
        ]  # fmt: skip
        result = {"category": "linear", "list": self._cap(items, limit, faults, newest_first=True)}
        return self._bybit(result, now)

    # -- OKX ----------------------------------------------------------------------------------
    @staticmethod
    def _okx(data: list[Any]) -> Answer:
        return 200, {"code": "0", "msg": "", "data": data}, {}

    @staticmethod
    def _okx_error(code: str, msg: str) -> Answer:
        return 400, {"code": code, "msg": msg, "data": []}, {}

    def _okx_range(self, q: Mapping[str, Any], older: str, newer: str, now: int) -> tuple[int, int]:
        """The exclusive bounds: `older` = records earlier than, `newer` = later than."""
        end = int(q[older]) - 1 if q.get(older) else now
        start = int(q[newer]) + 1 if q.get(newer) else 0
        return start, end

    def _okx_api_v5_rubik_stat_contracts_open_interest_history(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("instId"), "-USDT-SWAP")
        if h is None:
            return self._okx_error("51001", "Instrument ID does not exist")
        if q.get("period", "5m") != "5m":
            return self._okx_error("51000", "Parameter period error")
        limit = int(q.get("limit", 100))
        if not 1 <= limit <= 100:
            return self._okx_error("51000", "Parameter limit error")
        start, end = self._okx_range(q, "end", "begin", now)
        latest = h.oi_points(0, now, now)[-OKX_OI_POINTS:]  # only the latest 1,440 points
        start = max(start, latest[0]) if latest else start
        ct = CT_VAL.get(h.key, 1.0)
        rows: list[Any] = []
        for t in self._keep(h.oi_points(start, end, now), faults):
            base = h.oi_at(t, "okx")
            rows.append([str(t), _s(base / ct), _s(base), _s(base * h.bar(t, 1)[3])])
        rows = self._cap(rows, limit, faults, newest_first=True)
        if faults.malformed and rows:
            rows.append([str(now)])
        return self._okx(rows)

    def _okx_api_v5_market_history_candles(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("instId"), "-USDT-SWAP")
        if h is None:
            return self._okx_error("51001", "Instrument ID does not exist")
        if q.get("bar", "1m") != "1m":
            return self._okx_error("51000", "Parameter bar error")
        limit = int(q.get("limit", 100))
        if not 1 <= limit <= 300:
            return self._okx_error("51000", "Parameter limit error")
        start, end = self._okx_range(q, "after", "before", now)
        ct = CT_VAL.get(h.key, 1.0)
        times = self._keep(h.minutes(start, end, now), faults)[::-1][
            : min(limit, faults.page_cap or limit)
        ]
        rows: list[Any] = []
        for t in times:
            o, hi, lo, c, v, _, quote = h.bar(t, SHARE["okx"])
            confirm = "1" if t + MINUTE_MS <= now else "0"
            rows.append([str(t), _s(o), _s(hi), _s(lo), _s(c), _s(v / ct), _s(v), _s(quote),
                         confirm])  # fmt: skip
        if faults.malformed and rows:
            rows.append([str(now), "1", "2"])
        return self._okx(rows)

    def _okx_api_v5_public_funding_rate_history(
        self, q: Mapping[str, Any], now: int, faults: HistoryFaults
    ) -> Answer:
        h = self._market(q.get("instId"), "-USDT-SWAP")
        if h is None:
            return self._okx_error("51001", "Instrument ID does not exist")
        limit = min(int(q.get("limit", 400)), 400)
        start, end = self._okx_range(q, "after", "before", now)
        items = [
            {"instType": "SWAP", "instId": f"{h.key}-USDT-SWAP",
             "fundingRate": _s(h.funding_at(t), 6), "realizedRate": _s(h.funding_at(t), 6),
             "fundingTime": str(t), "method": "current_period"}
            for t in self._keep(h.settlements(start, end, now), faults)
        ]  # fmt: skip
        return self._okx(self._cap(items, limit, faults, newest_first=True))

    # -- Hyperliquid --------------------------------------------------------------------------
    def candle_snapshot(self, req: Mapping[str, Any], now: int) -> Answer:
        self.requests["hyperliquid"] = self.requests.get("hyperliquid", 0) + 1
        faults = self.fault("hyperliquid")
        if faults.rate_limited > 0:
            faults.rate_limited -= 1
            return 429, None, {"Retry-After": faults.retry_after}
        coin = req.get("coin")
        h = self.histories.get(coin) if isinstance(coin, str) else None
        if h is None or req.get("interval") != "1m":
            return 500, None, {}
        start, end = int(req["startTime"]), int(req.get("endTime") or now)
        newest = now - now % MINUTE_MS
        start = max(start, newest - (HL_CANDLES - 1) * MINUTE_MS)  # only the latest 5,000
        out: list[Any] = []
        for t in self._keep(h.minutes(start, end, now), faults):
            o, hi, lo, c, v, _, _ = h.bar(t, SHARE["hyperliquid"])
            out.append({"t": t, "T": t + MINUTE_MS - 1, "s": coin, "i": "1m", "o": _s(o),
                        "c": _s(c), "h": _s(hi), "l": _s(lo), "v": _s(v), "n": 50})  # fmt: skip
        return 200, out[: faults.page_cap or len(out)], {}
