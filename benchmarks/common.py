"""Helpers shared by the benchmarks: timing loops and a description of the machine."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable


def machine() -> str:
    """One line naming the machine, for the tables in BENCHMARKS.md."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def today() -> str:
    return datetime.date.today().isoformat()


def rate(step: Callable[[int], None], items_per_call: int, seconds: float) -> float:
    """Items per second of ``step(k)`` (``k`` counts calls), timed for about ``seconds`` after
    a warm-up, in batches so the clock is read rarely."""
    for k in range(3):
        step(k)
    calls, elapsed, batch = 0, 0.0, 1
    while elapsed < seconds:
        start = time.perf_counter()
        for k in range(batch):
            step(calls + k)
        elapsed += time.perf_counter() - start
        calls += batch
        batch = min(batch * 2, 1 << 14)
    return calls * items_per_call / elapsed


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.1f}k"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.1f}x"


class Interleaved:
    """Rates of several sides timed in interleaved rounds (A, B, C, A, B, C, ...): the VM's
    speed drifts by tens of percent within a minute, and interleaving exposes every side to the
    same drift. ``timers`` map a side's name to a function of seconds returning its rate."""

    def __init__(self, timers: dict[str, Callable[[float], float]], rounds: int, seconds: float):
        self.rates: dict[str, list[float]] = {name: [] for name in timers}
        for _ in range(rounds):
            for name, timer in timers.items():
                self.rates[name].append(timer(seconds))

    def median(self, name: str) -> float | None:
        values = self.rates.get(name)
        return None if not values else float(statistics.median(values))

    def ratio(self, name: str, other: str) -> str:
        """The median over rounds of ``name``'s rate over ``other``'s in the same round, with
        the range: ``"12.3x (10.1-14.0)"``, or ``"—"`` if a side is missing."""
        if not self.rates.get(name) or not self.rates.get(other):
            return "—"
        ratios = [a / b for a, b in zip(self.rates[name], self.rates[other], strict=True)]
        return f"{statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"
