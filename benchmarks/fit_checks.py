"""Checks behind the fitted parameters (docs/model.md "Fitted parameters"), on a recording of
the development set made by `liqtui convert-bars` (never on the reserved sets):

    liqtui convert-bars ../shared/data/btc_1h_*/*.csv --out /tmp/dev1h.jsonl.gz
    python benchmarks/fit_checks.py /tmp/dev1h.jsonl.gz

Prints, on the same training / test split as `liqtui calibrate --fit` (first 60% of the scored
hourly windows / the rest), for the turnover as it was (0) and as fitted:
- the partial Spearman of C and R given the excursion for each named preset and each single
  leverage tier (does the mix matter, and how much);
- the same partial controlling *also* for the window's whole range (high − low): the bar's path
  is synthetic (low first on a bar that closed up), and positions the turnover opens at one
  extreme can be liquidated at the other within the bar, which the excursion from the open does
  not control for; this says how much of the gain survives that stricter control;
- the share of (window, side) pairs where the model's C is 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from liqtui.commands.fit import _Capture
from liqtui.feeds.replay import ReplaySource
from liqtui.model import fit as F
from liqtui.model.density import ModelParams, preset_weights
from liqtui.model.scoring import partial_spearman
from liqtui.presets import DEFAULT_TURNOVER, LEVERAGE_TIERS, PRESETS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recording", type=Path)
    ap.add_argument("--symbol", default="BTC")
    args = ap.parse_args()
    capture = _Capture()
    ReplaySource(args.recording, speed=None).run_sync(capture)
    kw = {"window_ms": F.HOUR_MS, "warmup_ms": F.DAY_MS}
    for turnover in (0.0, DEFAULT_TURNOVER):
        params = ModelParams(half_life_ms=12 * F.HOUR_MS, turnover=turnover)
        pairs, _ = F.calibrator_pairs(
            capture.steps, args.symbol, params, preset_weights("high"), **kw
        )
        split = F.split_in_time(pairs, F.TRAIN_SHARE)
        span = np.zeros(pairs.start_ms.size)  # the window's range, both rows of a window
        span[0::2] = span[1::2] = pairs.excursion[0::2] + pairs.excursion[1::2]
        print(f"turnover {turnover:g}/h, half-life 12h:")
        mixes = {name: preset_weights(name) for name in PRESETS}
        for i, tier in enumerate(LEVERAGE_TIERS):
            w = np.zeros(len(LEVERAGE_TIERS))
            w[i] = 1.0
            mixes[f"{tier}x only"] = w
        for name, w in mixes.items():
            c = pairs.model_tiers @ w
            line = f"  {name:<14} train {F.partial_on(c, pairs, split.train):+.3f}"
            line += f"  test {F.partial_on(c, pairs, split.test):+.3f}"
            if name == "high":
                t = split.test
                both = np.column_stack([pairs.excursion[t], span[t]])
                strict = partial_spearman(c[t], pairs.realized[t], both)
                line += f"  test | excursion and range {strict:+.3f}" if strict is not None else ""
                line += f"  C = 0 in {np.mean(c[split.train | split.test] == 0):.0%} of pairs"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
