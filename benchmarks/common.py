"""Helpers shared by the benchmarks: timing loops, the machine and date header, argument parsing
conventions and Markdown tables."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


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


def fmt_ratio(a: float | None, b: float | None, digits: int = 1, missing: str = "—") -> str:
    """``a / b`` as ``1.2x`` (``digits`` decimals), or ``missing`` without both."""
    return missing if a is None or b is None else f"{a / b:.{digits}f}x"


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


# --- The one way every benchmark is launched: ``python benchmarks/<name>.py [--quick] ...``
# (run as a script, so ``from common import ...`` finds this file), ``main(argv=None)`` parsing
# with ``make_parser``, the report opening with ``header``, tables in Markdown. ``--quick`` is
# every benchmark's smoke run (tests/test_benchmarks_smoke.py runs each flag on tiny sizes).


def blas_threads_from_argv(argv: Sequence[str]) -> None:
    """Set ``OPENBLAS_NUM_THREADS`` (unless the user set it) from a ``--threads N`` in
    ``argv``: numpy's OpenBLAS reads it once, when numpy is first imported, so a benchmark
    with ``--threads`` calls this before importing numpy (this module imports only the
    standard library)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=1)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(pre.parse_known_args(list(argv))[0].threads))


def make_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's parser: its docstring's first paragraph as the description, and the
    ``--quick`` flag every benchmark has (tiny sizes and short timings: a smoke run, no figure
    to record)."""
    description = (doc or "").strip().split("\n\n")[0]
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run only")
    return parser


def header(title: str, script: str, argv: Sequence[str] | None, *details: str) -> str:
    """The lines a report opens with: its title and date, the machine (and ``details``, e.g.
    thread counts), and the command that reproduces it."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python", f"benchmarks/{Path(script).name}", *arguments])
    return "\n".join(
        [
            f"# {title} — {today()}",
            "machine: " + "; ".join([machine(), *details]),
            f"command: {command}",
        ]
    )


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others (figures) right-aligned."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "| --- |" + " ---: |" * (len(columns) - 1),
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
