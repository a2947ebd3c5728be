"""examples/sb3_drop_in.py timed both ways: thrust_algos.PPO against stock SB3 (issue 19 item 1).

Each side runs the example as a user would, in a fresh process (so numba's threading layer
starts inside the run, where it used to undo the example's ``torch.set_num_threads(1)``), in
interleaved rounds; the table gives each side's median wall time and the per-round ratio.

Usage::

    python benchmarks/drop_in.py [--timesteps 30000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import header, make_parser, markdown_table

REPO_ROOT = Path(__file__).resolve().parents[1]
SIDES = {"thrust_algos.PPO": [], "stable_baselines3.PPO (--stock)": ["--stock"]}


def run_example(flags: list[str], timesteps: int) -> float:
    """Wall seconds of one run of the example, interpreter start included."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "examples/sb3_drop_in.py", "--timesteps", str(timesteps), *flags]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--timesteps", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.timesteps < 1 or args.rounds < 1:
        parser.error("--timesteps and --rounds must be at least 1")
    if args.quick:
        args.timesteps, args.rounds = min(args.timesteps, 256), 1
    print(header("examples/sb3_drop_in.py: thrust_algos.PPO against stock SB3", __file__, argv))
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for _ in range(args.rounds):
        for side, flags in SIDES.items():
            times[side].append(run_example(flags, args.timesteps))
    stock = times["stable_baselines3.PPO (--stock)"]
    rows = []
    for side, values in times.items():
        ratios = [s / v for s, v in zip(stock, values, strict=True)]
        rows.append(
            [
                side,
                f"{statistics.median(values):.1f} s",
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            ]
        )
    print(markdown_table(["side", "median wall time", "stock / side (range)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
