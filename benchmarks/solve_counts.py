"""Rollouts and gradient steps to solve CartPole-v1 at large batches: which device setting to time.

For each setting, ``thrust_algos.PPO`` on Thrust/CartPole-v1 (the CPU here; the counts do not
depend on the device, the random draws do) until the deterministic policy's mean over 20
episodes of Gymnasium's CartPole-v1 reaches 475, evaluated after each rollout
(``benchmarks/ppo.py``'s protocol). It prints, per seed and as medians, the rollouts and the
gradient steps that took. On a GPU the time to solve is about ``rollouts x (one rollout + one
update's gradient steps x one step's time)``, with the two times from ``benchmarks/gpu_check.py``:
this is what ``gpu_check.py``'s ``DEVICE_SOLVE`` was chosen by. No timing is claimed here.

Usage::

    python benchmarks/solve_counts.py [--quick] [--settings A,D] [--seeds 3]
"""

from __future__ import annotations

import math
import statistics
import sys
from typing import Any

from common import header, make_parser
from ppo import SolveTimer, describe, make_eval_env

import thrust_algos
from thrust_envs.sb3 import make_vec_env

COMMON = {"n_steps": 32, "n_epochs": 4, "gamma": 0.99, "gae_lambda": 0.95}
SETTINGS: dict[str, dict[str, Any]] = {
    "A": {"n_envs": 4096, "batch_size": 8192, "learning_rate": 5e-3, **COMMON},
    "B": {"n_envs": 4096, "batch_size": 16384, "learning_rate": 5e-3, **COMMON},
    "C": {"n_envs": 4096, "batch_size": 16384, "learning_rate": 1e-2, **COMMON},
    "D": {"n_envs": 4096, "batch_size": 32768, "learning_rate": 1e-2, **COMMON},
    "E": {"n_envs": 4096, "batch_size": 32768, "learning_rate": 5e-3, **COMMON, "n_epochs": 8},
    "F": {"n_envs": 2048, "batch_size": 8192, "learning_rate": 5e-3, **COMMON},
    "G": {"n_envs": 1024, "batch_size": 4096, "learning_rate": 5e-3, **COMMON},
}
QUICK = {"Q": {"n_envs": 8, "batch_size": 64, "learning_rate": 1e-3, **COMMON}}


def count(setting: dict[str, Any], seed: int, total: int) -> tuple[bool, int, int, float]:
    """One seed: (solved, rollouts, gradient steps, last evaluation's mean)."""
    hyper = {key: value for key, value in setting.items() if key != "n_envs"}
    env = make_vec_env("Thrust/CartPole-v1", setting["n_envs"], seed=seed)
    model = thrust_algos.PPO("MlpPolicy", env, seed=seed, device="cpu", **hyper)
    timer = SolveTimer(make_eval_env(seed), per_rollout=True)
    model.learn(total, callback=timer)
    rollout = setting["n_envs"] * setting["n_steps"]
    rollouts = math.ceil((timer.solved_at_step or model.num_timesteps) / rollout)
    per_update = setting["n_epochs"] * math.ceil(rollout / setting["batch_size"])
    return timer.solved_at_step is not None, rollouts, rollouts * per_update, timer.last_mean


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    settings = {**SETTINGS, **QUICK}
    parser.add_argument(
        "--settings", default=None, help=f"of {list(settings)} (default: all but Q; --quick: Q)"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--total-timesteps", type=int, default=4_000_000)
    args = parser.parse_args(argv)
    chosen = args.settings or ("Q" if args.quick else ",".join(SETTINGS))
    names = [name for name in chosen.split(",") if name]
    if not names or set(names) - settings.keys():
        parser.error(f"--settings: of {list(settings)}, got {chosen!r}")
    if args.seeds < 1 or args.total_timesteps < 1:
        parser.error("--seeds and --total-timesteps must be at least 1")
    seeds = range(1 if args.quick else args.seeds)
    total = min(args.total_timesteps, 2_048) if args.quick else args.total_timesteps
    print(header("Rollouts and gradient steps to solve CartPole-v1", __file__, argv))
    print("\n| setting | hyperparameters | solved | rollouts | gradient steps | median rollouts "
          "| median gradient steps |")  # fmt: skip
    print("| --- | --- | ---: | --- | --- | ---: | ---: |")
    for name in names:
        runs = [count(settings[name], seed, total) for seed in seeds]
        rollouts = [run[1] for run in runs]
        steps = [run[2] for run in runs]
        print(
            f"| {name} | {describe(settings[name])} | {sum(run[0] for run in runs)}/{len(runs)} "
            f"| {rollouts} | {steps} | {statistics.median(rollouts):g} "
            f"| {statistics.median(steps):g} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
