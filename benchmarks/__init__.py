"""liqtui benchmarks (not part of the wheel, not run by CI): `python -m benchmarks` from the
repository root runs every figure and prints one table; see docs/benchmarks.md.

This package holds what the table needs: a row of figures (every run, and the peer measured in
the same invocation), formatting, and the machine description. The benchmark scripts import
liqtui from wherever it is installed; only when it is not installed do they fall back to the
checkout.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prefer_installed_liqtui() -> str:
    """Make `import liqtui` take the installed package rather than the checkout that the
    current directory (`python -m benchmarks` from the repository root) puts first on sys.path.
    Falls back to the checkout when liqtui is not installed. Returns where it came from."""
    import importlib.util

    if "liqtui" in sys.modules:
        return str(Path(sys.modules["liqtui"].__file__ or "?").parent)
    here = {"", ".", str(ROOT)}
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if (os.path.abspath(p) if p else "") != str(ROOT)
                   and p not in here]  # fmt: skip
    spec = importlib.util.find_spec("liqtui")
    if spec is None or spec.origin is None:
        sys.path[:] = saved  # not installed: the checkout
        spec = importlib.util.find_spec("liqtui")
    else:
        sys.path.append(str(ROOT))  # tests/ and benchmarks/ stay importable, after site-packages
    return str(Path(spec.origin).parent) if spec and spec.origin else "?"


# -- figures ---------------------------------------------------------------------------------
@dataclass
class Row:
    """One figure: its value in every run, optionally beside a peer measured in the same run.

    unit: "s" (seconds, shown as µs/ms/s), "B" (bytes), "B/s", "%", "h/s", or a rate label
    such as "prints/s" (shown with k/M). The ratio is figure ÷ peer — or, with `invert`, peer ÷
    figure followed by `word` ("faster", "less": where lower is better) — the median of the
    per-run ratios when both have the same number of runs (paired: same round, same noise)."""

    section: str
    name: str
    values: list[float]
    unit: str
    peer: str = ""
    peer_values: list[float] = field(default_factory=list)
    note: str = ""
    invert: bool = False
    word: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def peer_median(self) -> float:
        return statistics.median(self.peer_values) if self.peer_values else float("nan")

    def ratios(self) -> list[float]:
        if not self.values or not self.peer_values:
            return []
        pairs = (
            list(zip(self.values, self.peer_values, strict=True))
            if len(self.values) == len(self.peer_values)
            else [(self.median, self.peer_median)]
        )
        if self.invert:
            return [p / v for v, p in pairs if v]
        return [v / p for v, p in pairs if p]

    def ratio(self) -> float | None:
        r = self.ratios()
        return statistics.median(r) if r else None

    def as_dict(self) -> dict[str, object]:
        return {
            "section": self.section, "name": self.name, "unit": self.unit,
            "values": self.values, "median": self.median, "peer": self.peer,
            "peer_values": self.peer_values, "ratio": self.ratio(),
            "ratio_is": "peer ÷ figure" if self.invert else "figure ÷ peer", "note": self.note,
        }  # fmt: skip


def _g(value: float) -> str:
    """Three significant digits, never in e-notation."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def human(value: float, unit: str) -> str:
    """A value in its unit, about three significant digits."""
    if value != value:  # NaN
        return "—"
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.3g} µs"
        if value < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    if unit in ("B", "B/s"):
        suffix = "/s" if unit == "B/s" else ""
        for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}{suffix}"
        return f"{value:.0f} B{suffix}"
    if unit == "%":
        return f"{value:.3g}%"
    if unit == "h/s":
        return f"{value:.3g} h/s"
    if unit == "":
        return f"{value:.3g}"
    for scale, name in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{name} {unit}"
    return f"{value:.3g} {unit}"


def _spread(row: Row) -> str:
    if len(row.values) < 2:
        return f"(n={len(row.values)})"
    lo, hi = human(min(row.values), row.unit), human(max(row.values), row.unit)
    if lo == hi:
        return f"{lo} every run (n={len(row.values)})"
    return f"{lo} – {hi} (n={len(row.values)})"


def _ratio(row: Row) -> str:
    ratios = row.ratios()
    if not ratios:
        return ""
    mid = statistics.median(ratios)
    word = f" {row.word}" if row.word else ""
    lo, hi = _g(min(ratios)), _g(max(ratios))
    if len(ratios) > 1 and lo != hi:
        return f"{_g(mid)}×{word} ({lo}–{hi})"
    return f"{_g(mid)}×{word}"


def render_table(rows: Sequence[Row]) -> str:
    """One table: figure, median, spread over the runs, the peer (median) and figure ÷ peer."""
    head = ("figure", "median", "spread (min – max, runs)", "peer in the same run", "ratio")
    cells: list[tuple[str, ...] | str] = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            cells.append(f"[{section}]")
        peer = f"{row.peer}: {human(row.peer_median, row.unit)}" if row.peer else ""
        cells.append((row.name, human(row.median, row.unit), _spread(row), peer, _ratio(row)))
    widths = [len(h) for h in head]
    for c in cells:
        if isinstance(c, tuple):
            widths = [max(w, len(x)) for w, x in zip(widths, c, strict=True)]

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(
            x.ljust(w) if i in (0, 2, 3) else x.rjust(w) if i == 1 else x
            for i, (x, w) in enumerate(zip(c, widths, strict=True))
        ).rstrip()

    out = [line(head), line(tuple("-" * w for w in widths))]
    for c in cells:
        out.append(c if isinstance(c, str) else line(c))
    notes = [f"  {r.name}: {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


# -- the machine -----------------------------------------------------------------------------
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("liqtui", "numpy", "textual", "aiohttp", "ccxt"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = "not installed"
    return out


def checkout() -> str:
    """The repository's commit and whether liqtui/ has uncommitted changes (read-only git)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip

    try:
        head = git("log", "-1", "--format=%h %cI")
        dirty = git("status", "--porcelain", "--", "liqtui")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{head}{' + uncommitted changes in liqtui/' if dirty else ''}"


def machine() -> dict[str, object]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_bytes": mem,
        "load_avg": [round(x, 2) for x in load],
        "versions": versions(),
        "checkout": checkout(),
    }


def machine_text(m: dict[str, object]) -> str:
    v: dict[str, str] = m["versions"]  # type: ignore[assignment]
    load = " ".join(f"{x:g}" for x in m["load_avg"])  # type: ignore[attr-defined]
    mem = int(m["memory_bytes"]) / 2**30  # type: ignore[call-overload]
    return (
        f"machine: {m['system']}, {m['cores']} cores ({m['cpu']}), {mem:.0f} GiB, "
        f"load average {load}\n"
        f"software: Python {v['python']}, liqtui {v['liqtui']}, numpy {v['numpy']}, "
        f"textual {v['textual']}, aiohttp {v['aiohttp']}, ccxt {v['ccxt']}\n"
        f"checkout: {m.get('checkout', '?')}"
    )
