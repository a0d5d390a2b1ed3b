"""A "busy market" recording for the app benchmarks and the soak: hours of Binance, Bybit and
OKX raw messages (liquidation prints with cascades, mark prices, open interest, klines and
trades, order-book polls) for BTC, ETH and SOL, written with liqtui's Recorder (gzip).

    python benchmarks/busy_market.py --hours 1             # prints the path (cached in /tmp)
    python benchmarks/busy_market.py --hours 24 --force    # regenerate

Content: `liqtui.demo.MarketSimulator` (deterministic for a seed) encoded into each
exchange's own messages by tests/support/fake_exchanges.py — the same encoders the loopback fake
exchanges serve — as one live connection per exchange would receive them:
- streams: everything liqtui subscribes to (Binance combined streams `!forceOrder@arr`,
  `<sym>@markPrice@1s`, `<sym>@kline_1m`; Bybit `allLiquidation`, `tickers` (a snapshot, then
  deltas), `publicTrade`; OKX `liquidation-orders`, `open-interest`, `mark-price`,
  `funding-rate`, `trades`), the subscription acks and the keep-alive pongs;
- REST polls at the intervals of liqtui's own feed plans (Binance open interest every 10 s, order
  books every 15 s, OKX instruments first), answered by the fake exchanges' REST handlers;
- a market-wide cascade every `--cascade-every` minutes (alternating down and up, 1.5–4 %
  over 30–90 s) on top of the simulator's own bursts (every 20–40 minutes).
Receive times are the message's exchange time plus a fixed latency per exchange (40/60/80 ms),
never decreasing. Nothing touches the network. The file is cached in $LIQTUI_BENCH_CACHE (default
/tmp/liqtui-bench) under a name made of the parameters and a hash of the generator and the code
that produces the messages, so a rerun with the same parameters is immediate.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOUR_MS = 3_600_000
GENERATOR_VERSION = 1  # bump when the content changes in a way the source hash cannot see
LATENCY_MS = {"binance": 40, "bybit": 60, "okx": 80}
PING_S = {"bybit": 20, "okx": 25}


def _tests_path() -> None:
    """tests/ (the `support` package: support/fake_exchanges.py) from the repository checkout,
    liqtui from wherever it is installed."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


def cache_dir() -> Path:
    return Path(os.environ.get("LIQTUI_BENCH_CACHE") or "/tmp/liqtui-bench")


@dataclass(frozen=True)
class BusyMarket:
    hours: float = 1.0
    symbols: tuple[str, ...] = ("BTC", "ETH", "SOL")
    exchanges: tuple[str, ...] = ("binance", "bybit", "okx")
    seed: int = 7
    cascade_every_min: float = 10.0
    warmup_h: float = 2.0
    activity: float = 4.0  # × the simulator's leveraged-position arrivals (and its cap)
    depth: bool = True

    def __post_init__(self) -> None:  # 24 and 24.0 are the same recording (and cache name)
        for name in ("hours", "cascade_every_min", "warmup_h", "activity"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "exchanges", tuple(self.exchanges))

    def source_hash(self) -> str:
        import liqtui.demo as demo

        _tests_path()
        from support import fake_exchanges

        h = hashlib.sha256()
        for path in (Path(demo.__file__), Path(fake_exchanges.__file__)):
            h.update(path.read_bytes())
        # This file's code that makes the content (not its docs or its command line).
        for fn in (_generate, _generate_with, subscriptions):
            h.update(inspect.getsource(fn).encode())
        h.update(repr((GENERATOR_VERSION, LATENCY_MS, PING_S, self)).encode())
        return h.hexdigest()[:10]

    def path(self) -> Path:
        name = (
            f"busy-{self.hours:g}h-{'-'.join(self.symbols)}-{'-'.join(self.exchanges)}"
            f"-s{self.seed}-c{self.cascade_every_min:g}-a{self.activity:g}"
            f"{'' if self.depth else '-nodepth'}"
            f"-{self.source_hash()}.jsonl.gz"
        )
        return cache_dir() / name

    @property
    def meta_path(self) -> Path:
        return self.path().with_suffix(".meta.json")


def recording(spec: BusyMarket | None = None, *, force: bool = False, quiet: bool = False) -> Path:
    """The recording for `spec`: from the cache, or generated now (atomically)."""
    spec = spec or BusyMarket()
    path = spec.path()
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name.removesuffix('.jsonl.gz')}.part{os.getpid()}.jsonl.gz")
    start = time.perf_counter()
    if not quiet:
        print(f"generating {spec.hours:g} h of a busy market: {path}", file=sys.stderr, flush=True)
    stats = _generate(spec, tmp, quiet=quiet)
    stats["generate_s"] = round(time.perf_counter() - start, 1)
    stats["bytes"] = tmp.stat().st_size
    os.replace(tmp, path)
    spec.meta_path.write_text(json.dumps(stats, indent=1) + "\n")
    if not quiet:
        print(
            f"  {stats['lines']:,} lines ({stats['liquidations']:,} liquidation prints), "
            f"{stats['bytes'] / 1e6:.1f} MB, {stats['generate_s']:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return path


def metadata(spec: BusyMarket) -> dict[str, object]:
    try:
        return json.loads(spec.meta_path.read_text())
    except (OSError, ValueError):
        return {}


def subscriptions(markets: object) -> dict[str, set[str]]:
    """The fake exchanges' topics liqtui's feed plans subscribe to, per exchange."""
    out: dict[str, set[str]] = {"binance": {"!forceOrder@arr"}, "bybit": set(),
                                "okx": {"liquidation-orders:SWAP"}}  # fmt: skip
    for m in markets:  # type: ignore[attr-defined]
        low = m.usdt.lower()
        out["binance"] |= {f"{low}@markPrice@1s", f"{low}@kline_1m"}
        out["bybit"] |= {f"{ch}.{m.usdt}" for ch in ("allLiquidation", "tickers", "publicTrade")}
        channels = ("open-interest", "mark-price", "funding-rate", "trades")
        out["okx"] |= {f"{ch}:{m.swap}" for ch in channels}
    return out


def _generate(spec: BusyMarket, out: Path, *, quiet: bool) -> dict[str, object]:
    _tests_path()

    from support import fake_exchanges as fx

    from liqtui import demo

    exchanges = [ex for ex in ("binance", "bybit", "okx") if ex in spec.exchanges]
    fake = fx.FakeExchanges(spec.symbols, spec.seed)
    # Busier than the demo: more (and smaller) leveraged positions, so more prints per cascade.
    # The rate is a module constant of the simulator, read at each step: set for this run only.
    rate = demo._POSITION_RATE
    demo._POSITION_RATE = rate * spec.activity
    try:
        return _generate_with(spec, out, fake, exchanges, quiet=quiet)
    finally:
        demo._POSITION_RATE = rate


def _generate_with(
    spec: BusyMarket, out: Path, fake: Any, exchanges: list[str], *, quiet: bool
) -> dict[str, object]:
    from urllib.parse import parse_qsl, urlsplit

    from support import fake_exchanges as fx

    from liqtui.config import Endpoint, Feeds
    from liqtui.demo import DEFAULT_START_MS, POSITION_CAP, MarketSimulator
    from liqtui.exchanges import binance, bybit, okx
    from liqtui.feeds.recording import Recorder

    cap = int(POSITION_CAP * spec.activity)
    sim = fake.sim = MarketSimulator(spec.symbols, spec.seed, DEFAULT_START_MS, position_cap=cap)
    fake.markets = markets = {k: fx._market_info(k, sim.price(k)) for k in spec.symbols}
    encoder = fx._Encoder(fake.venues, markets, 0)
    warm_end = sim.now_ms + int(spec.warmup_h * HOUR_MS)
    while sim.now_ms < warm_end:  # positions and history, not recorded
        sim.step(min(30_000, warm_end - sim.now_ms))
    encoder.initial(sim)
    t_start = sim.now_ms
    t_end = t_start + int(spec.hours * HOUR_MS)

    # What liqtui's feed plans subscribe to and poll (the fake's URLs: /<exchange> prefixes).
    feeds = Feeds()
    planners = {"binance": binance.plan, "bybit": bybit.plan, "okx": okx.plan}
    polls: list[tuple[int, str, str, float]] = []  # (next due ms, exchange, endpoint, every s)
    startup: list[tuple[str, str]] = []
    for ex in exchanges:
        plan = planners[ex](list(spec.symbols), Endpoint(f"ws://x/{ex}", f"http://x/{ex}"), feeds)
        for poll in plan.startup:
            startup.append((ex, poll.endpoint))
        for poll in plan.polls:
            if not spec.depth and any(w in poll.endpoint for w in ("depth", "orderbook", "books")):
                continue
            if poll.interval_s > 0:
                first = t_start + int(poll.initial_delay_s * 1000) + len(polls) * 37
                polls.append((first, ex, poll.endpoint, poll.interval_s))
    topics = subscriptions(markets.values())
    handlers = {
        "/binance/fapi/v1/openInterest": fake._binance_oi,
        "/binance/fapi/v1/depth": fake._binance_depth,
        "/bybit/v5/market/orderbook": fake._bybit_book,
        "/okx/api/v5/public/instruments": fake._okx_instruments,
        "/okx/api/v5/market/books": fake._okx_books,
    }

    def rest_body(ex: str, endpoint: str) -> object:
        """The fake exchange's answer, as of the point the streams have reached."""
        venue = fake.venues[ex]
        venue.present = venue.head
        url = urlsplit(f"/{ex}{endpoint}")
        request = SimpleNamespace(query=dict(parse_qsl(url.query)), path=url.path)
        coro = handlers[url.path](request)  # GET handlers never await: run it to its return
        try:
            coro.send(None)
        except StopIteration as done:
            return json.loads(done.value.body)
        raise RuntimeError(f"{url.path}: the handler awaited")

    rng = random.Random(spec.seed)
    counts = {"lines": 0, "liquidations": 0, "rest": 0, "cascades": 0}
    first_sent: set[str] = set()
    last_t = 0
    next_cascade = t_start + int(spec.cascade_every_min * 60_000 * 0.5)
    next_ping = {ex: t_start + PING_S[ex] * 1000 for ex in exchanges if ex in PING_S}
    report_at = time.perf_counter() + 10
    with Recorder(out) as rec:

        def write(ex: str, msg: object, t: int, rest: str | None = None) -> None:
            nonlocal last_t
            last_t = max(last_t, t)
            rec.write(ex, msg, t=last_t, rest=rest)
            counts["lines"] += 1

        # Connect: the startup REST request, the subscription acks.
        for ex, endpoint in startup:
            write(ex, rest_body(ex, endpoint), t_start, rest=endpoint)
            counts["rest"] += 1
        for ex in exchanges:
            if ex == "bybit":
                for k in range(0, len(topics["bybit"]), 10):
                    write(ex, {"success": True, "ret_msg": "", "conn_id": "bench",
                               "req_id": str(k // 10 + 1), "op": "subscribe"}, t_start)  # fmt: skip
            elif ex == "okx":
                for topic in sorted(topics["okx"]):
                    ch, _, inst = topic.partition(":")
                    arg = {"channel": ch, "instType": "SWAP"} if inst == "SWAP" else {
                        "channel": ch, "instId": inst}  # fmt: skip
                    write(ex, {"event": "subscribe", "arg": arg, "connId": "bench"}, t_start)

        while sim.now_ms < t_end:
            step_start = sim.now_ms
            if sim.now_ms >= next_cascade:
                k = counts["cascades"]
                cascade = fx.Cascade(
                    0,
                    duration_ms=rng.randint(30, 90) * 1000,
                    move=rng.uniform(0.015, 0.04),
                    direction=-1.0 if k % 2 == 0 else 1.0,
                    retrace=rng.uniform(0.3, 0.7),
                    recovery_ms=rng.randint(2, 6) * 60_000,
                )
                fx.inject_cascade(sim, cascade, sim.now_ms)
                counts["cascades"] += 1
                next_cascade += int(spec.cascade_every_min * 60_000)
            events = sim.step(1_000)
            encoder.feed(events, sim.now_ms)
            batch: list[tuple[int, int, str, object]] = []
            order = 0
            for ex in exchanges:
                venue = fake.venues[ex]
                latency = LATENCY_MS[ex]
                for entry in venue.entries:
                    if not any(t in topics[ex] for t in entry.topics):
                        continue
                    text = entry.text
                    if entry.snapshot is not None and entry.topics[0] not in first_sent:
                        first_sent.add(entry.topics[0])
                        text = entry.snapshot
                    counts["liquidations"] += len(entry.liqs)
                    t = max(entry.sim_ms, step_start) + latency
                    batch.append((t, order, ex, text))
                    order += 1
            for venue in fake.venues.values():  # sent: drop the log, keep the REST series
                venue.base = venue.head
                venue.entries.clear()
                venue.state.clear()
                venue.produced.clear()
            for ex in exchanges:
                if ex in next_ping and sim.now_ms >= next_ping[ex]:
                    pong: object = "pong" if ex == "okx" else {
                        "success": True, "ret_msg": "pong", "conn_id": "bench", "req_id": "",
                        "op": "ping"}  # fmt: skip
                    batch.append((sim.now_ms + LATENCY_MS[ex], order, ex, pong))
                    order += 1
                    next_ping[ex] += PING_S[ex] * 1000
            batch.sort(key=lambda row: (row[0], row[1]))
            for t, _, ex, text in batch:
                if isinstance(text, str) and text != "pong":
                    rec.write_frame(ex, text, t=max(last_t, t))
                    last_t = max(last_t, t)
                    counts["lines"] += 1
                else:
                    write(ex, text, t)
            for i, (due, ex, endpoint, every) in enumerate(polls):
                if due <= sim.now_ms:
                    write(ex, rest_body(ex, endpoint), due + LATENCY_MS[ex] * 2, rest=endpoint)
                    counts["rest"] += 1
                    polls[i] = (due + int(every * 1000), ex, endpoint, every)
            if not quiet and time.perf_counter() > report_at:
                done = (sim.now_ms - t_start) / (t_end - t_start)
                print(f"  {done:5.1%} ({counts['lines']:,} lines)", file=sys.stderr, flush=True)
                report_at = time.perf_counter() + 10
    return {
        **counts,
        "hours": spec.hours,
        "start_ms": t_start,
        "end_ms": t_end,
        "symbols": list(spec.symbols),
        "exchanges": exchanges,
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hours", type=float, default=1.0, help="recorded hours (1)")
    p.add_argument("--symbols", default="BTC,ETH,SOL")
    p.add_argument("--exchanges", default="binance,bybit,okx")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cascade-every", type=float, default=10.0, help="minutes (10)")
    p.add_argument("--activity", type=float, default=4.0, help="× position arrivals (4)")
    p.add_argument("--no-depth", action="store_true", help="leave out the order-book polls")
    p.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = p.parse_args(argv)
    spec = BusyMarket(
        hours=args.hours,
        symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
        exchanges=tuple(s.strip() for s in args.exchanges.split(",") if s.strip()),
        seed=args.seed,
        cascade_every_min=args.cascade_every,
        activity=args.activity,
        depth=not args.no_depth,
    )
    print(recording(spec, force=args.force))


if __name__ == "__main__":
    main()
