"""Turn the shared real data into liqtui recordings (in /tmp, never in the repository).

    python benchmarks/calibrate_shared_data.py [--data ../shared/data] [--out /tmp/liqtui-shared]
    liqtui calibrate --replay /tmp/liqtui-shared/btc_1h_dev.jsonl.gz --symbol BTC --window 1h
    liqtui calibrate --replay /tmp/liqtui-shared/btc_2026-06_klines_oi.jsonl.gz --symbol BTC
    liqtui calibrate --replay /tmp/liqtui-shared/btc_forceorder_2025.jsonl.gz --symbol BTC

Inputs (../shared/data/README.md; no licence: local checks only, never copied into the repo):
- btc_1h_oi_liq_2025-12_2026-06_*/…csv, the DEVELOPMENT set: 4,312 hourly BTC bars with
  Binance open interest and realized liquidation totals (Binance+Bybit+OKX) per bar, converted by
  `liqtui convert-bars` (liqtui/commands/convert_bars.py: marks along the bar, one synthetic
  print per bar and side, OI readings). The 30m and 4h sets are RESERVED: not converted here.
- binance_btcusdt_5m_klines_oi_2026-06_*/…csv: 4,406 BTCUSDT 5-minute bars (15.3 days) with open
  interest in USD, funding and cumulative taker delta; the same columns, so the same converter
  (its liquidation columns are zero: the map is built, nothing can be scored). Rows whose OI
  repeats the previous row (forward-filled by the source) get no OI reading. Its klines carry no
  taker volume (the file has only ΔCVD, not volumes): no taker tilt is invented.
- binance_forceorder_*/binance.csv: `!forceOrder@arr` captures (2025-01 and 2025-12). The BTC
  rows become forceOrder messages (the `o` fields as Binance sends them).

The prints and the 5-minute bars do not overlap in time (2025 prints, 2026 bars), so a
calibration on those two can only say that: see docs/model.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KLINE_DIR = "binance_btcusdt_5m_klines_oi_2026-06_ismethanhtung"
DEV_DIR = "btc_1h_oi_liq_2025-12_2026-06_ismethanhtung"
FORCE_DIRS = ("binance_forceorder_2025-01_pauliusminialga", "binance_forceorder_2025-12_riftfern")
FORCE_COLUMNS = ("s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T")


def line(t: int, msg: object) -> str:
    return json.dumps({"t": t, "ex": "binance", "msg": msg}, separators=(",", ":")) + "\n"


def force_orders_to_recording(csv_paths: list[Path], out: Path) -> dict[str, int]:
    rows = []
    for path in csv_paths:
        with path.open(newline="") as fh:
            for rec in csv.reader(fh):
                if len(rec) >= 12 and rec[0].strip() == "BTC":
                    rows.append([v.strip() for v in rec[:11]])
    rows.sort(key=lambda r: int(r[10]))
    with gzip.open(out, "wt") as dst:
        for r in rows:
            o = dict(zip(FORCE_COLUMNS, r, strict=True))
            o["s"] = "BTCUSDT"  # the capture script stripped USDT from every line
            o["T"] = int(o["T"])  # type: ignore[assignment]
            t = int(r[10])
            dst.write(
                line(t, {"stream": "!forceOrder@arr", "data": {"e": "forceOrder", "E": t, "o": o}})
            )
    return {"prints": len(rows)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/liqtui-shared"))
    args = ap.parse_args()
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        print("refusing to write the shared data into the repository", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    from liqtui.commands.convert_bars import convert

    for folder, name in (
        (DEV_DIR, "btc_1h_dev.jsonl.gz"),
        (KLINE_DIR, "btc_2026-06_klines_oi.jsonl.gz"),
    ):
        csv_path = next((args.data / folder).glob("*.csv"))
        target = out / name
        target.unlink(missing_ok=True)  # rebuilt each run
        print(convert(csv_path, target).text(csv_path, target))
    prints = out / "btc_forceorder_2025.jsonl.gz"
    prints.unlink(missing_ok=True)
    print(
        prints,
        force_orders_to_recording([args.data / d / "binance.csv" for d in FORCE_DIRS], prints),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
