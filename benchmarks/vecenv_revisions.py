"""The SB3 VecEnvs of this checkout against another revision of Thrust, side by side in one run.

Issue 16 moved the SB3 views into the ``thrust_envs/sb3/`` package and asked that the env and
game VecEnvs show no slowdown. This benchmark times the same step loop (seeded reset, then
``step`` with pre-drawn random actions) in fresh processes, one with this checkout and one
with the other revision first on ``PYTHONPATH``, alternating rounds, and prints each side's
median steps/s (row-steps: every VecEnv row stepped) and the ratio this / other:

- ``single``: ``thrust_envs.sb3.make_vec_env("Thrust/CartPole-v1", n)`` (the single-agent view);
- ``shared``: ``make_vec_env("Thrust/Snake-v0", n)``, 4 snakes a game (the parameter-sharing
  view, ``4n`` rows);
- ``vs_opponent``: ``thrust_envs.vs_opponent("Thrust/Pong-v0", random bot, n)``.

Compilation is excluded (a warm-up loop runs first in each process; numba's cache is each
checkout's own). ``--first-step IDS`` times the other side instead: for each env or game ID,
a fresh process with an empty numba cache from ``import thrust_envs`` to the first step of
``thrust_envs.sb3.make_vec_env(id, 4)`` (import, compile, reset, one step), median seconds of
the rounds. Usage::

    python benchmarks/vecenv_revisions.py --against 27b97cf^ [--sizes 64,1024] [--rounds 5]
    python benchmarks/vecenv_revisions.py --against-path ../old-checkout
    python benchmarks/vecenv_revisions.py --against HEAD~1 --first-step Thrust/CartPole-v1

``--against REV`` checks the revision out into a temporary git worktree (removed at the end).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import header, make_parser, markdown_table

REPO = Path(__file__).resolve().parents[1]

#: what each case builds, in the checkout under test (``n``: games or envs; ``seed`` 0)
CASES = {
    "single": (
        "import thrust_envs.sb3 as s\n"
        "venv = s.make_vec_env('Thrust/CartPole-v1', n, seed=0, num_threads=1)\n"
    ),
    "shared": (
        "import thrust_envs.sb3 as s\n"
        "venv = s.make_vec_env('Thrust/Snake-v0', n, seed=0, num_threads=1, num_snakes=4)\n"
    ),
    "vs_opponent": (
        "import thrust_envs\n"
        "from thrust_envs.multiagent.pong import random_bot\n"
        "venv = thrust_envs.vs_opponent('Thrust/Pong-v0', random_bot(1), n, seed=0)\n"
    ),
}

#: the timing loop each process runs after building ``venv`` (prints one JSON line)
LOOP = """
import json, time
import numpy as np
import thrust_envs as package
venv.reset()
space = venv.action_space
space.seed(0)
actions = [np.stack([space.sample() for _ in range(venv.num_envs)]) for _ in range(16)]
for k in range(warmup):
    venv.step(actions[k % 16])
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    venv.step(actions[steps % 16])
    steps += 1
elapsed = time.perf_counter() - start
print(json.dumps({"rate": steps * venv.num_envs / elapsed, "file": package.__file__}))
"""


#: the first step of an env or game ID from import, in a process with an empty numba cache
FIRST_STEP = """
import json, time
start = time.perf_counter()
import numpy as np
import thrust_envs as package
import thrust_envs.sb3 as s
venv = s.make_vec_env(env_id, 4, seed=0)
venv.reset()
space = venv.action_space
space.seed(0)
venv.step(np.stack([space.sample() for _ in range(venv.num_envs)]))
print(json.dumps({"seconds": time.perf_counter() - start, "file": package.__file__}))
"""


def run_in(checkout: Path, code: str, what: str, **env_vars: str) -> dict:
    """The JSON line ``code`` prints in a fresh process importing ``checkout``'s thrust_envs
    (checked: the process reports where it imported it from)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", **env_vars}
    # cwd: ``python -c`` puts the working directory first on sys.path, before PYTHONPATH
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{what} in {checkout} failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    imported = Path(result["file"]).resolve()
    if checkout.resolve() not in imported.parents:
        raise RuntimeError(f"{checkout}: the process imported thrust_envs from {imported}")
    return result


def measure(checkout: Path, case: str, n: int, seconds: float, warmup: int) -> float:
    """Row-steps per second of ``case`` at size ``n`` in a fresh process."""
    code = f"n, seconds, warmup = {n}, {seconds}, {warmup}\n" + CASES[case] + LOOP
    return float(run_in(checkout, code, f"{case} n={n}")["rate"])


def first_step(checkout: Path, env_id: str) -> float:
    """Seconds from import to the first step of ``env_id`` with an empty numba cache."""
    with tempfile.TemporaryDirectory(prefix="thrust-numba-") as cache:
        code = f"env_id = {env_id!r}\n" + FIRST_STEP
        return float(run_in(checkout, code, env_id, NUMBA_CACHE_DIR=cache)["seconds"])


def _first_step_table(other: Path, env_ids: list[str], rounds: int) -> str:
    rows = []
    for env_id in env_ids:
        seconds: dict[str, list[float]] = {"this": [], "other": []}
        for _ in range(rounds):
            seconds["other"].append(first_step(other, env_id))
            seconds["this"].append(first_step(REPO, env_id))
        this, before = statistics.median(seconds["this"]), statistics.median(seconds["other"])
        rows.append([env_id, f"{before:.2f}", f"{this:.2f}", f"{this / before:.2f}"])
    columns = ["env", "other first step s", "this first step s", "this / other"]
    return markdown_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--against", metavar="REV", help="a git revision of this repository")
    which.add_argument("--against-path", metavar="DIR", help="a checkout of another revision")
    parser.add_argument("--sizes", default="64,1024", help="comma-separated n (envs or games)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"of {list(CASES)}")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per process")
    parser.add_argument(
        "--first-step",
        metavar="IDS",
        help="comma-separated env/game IDs: time each one's cold first step instead",
    )
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]
    cases = [c.strip() for c in args.cases.split(",")]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or min(sizes) < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error(f"cases must be of {list(CASES)}, sizes, rounds and seconds positive")
    seconds, warmup = (0.05, 5) if args.quick else (args.seconds, 200)
    rounds = 1 if args.quick else args.rounds
    worktree = None
    if args.against is not None:
        worktree = Path(tempfile.mkdtemp(prefix="thrust-rev-")) / "checkout"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.against],
            check=True,
            capture_output=True,
        )
        other, label = worktree, args.against
    else:
        other, label = Path(args.against_path), args.against_path
    try:
        print(header("SB3 VecEnvs: this checkout against another revision", __file__, argv))
        if args.first_step:
            env_ids = [e.strip() for e in args.first_step.split(",") if e.strip()]
            print(f"other revision: {label}; {rounds} alternating rounds, empty numba caches\n")
            print(_first_step_table(other, env_ids, rounds))
            return 0
        print(f"other revision: {label}; {rounds} alternating rounds of {seconds:g} s a process\n")
        rows = []
        for case in cases:
            for n in sizes:
                rates: dict[str, list[float]] = {"this": [], "other": []}
                for _ in range(rounds):
                    rates["other"].append(measure(other, case, n, seconds, warmup))
                    rates["this"].append(measure(REPO, case, n, seconds, warmup))
                this, before = statistics.median(rates["this"]), statistics.median(rates["other"])
                rows.append([case, n, f"{before:,.0f}", f"{this:,.0f}", f"{this / before:.2f}"])
        print(
            markdown_table(
                ["view", "n", "other row-steps/s", "this row-steps/s", "this / other"], rows
            )
        )
    finally:
        if worktree is not None:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
                check=False,
                capture_output=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
