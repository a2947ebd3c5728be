"""Time to solve CartPole-v1: thrust_algos.PPO on Thrust/CartPole-v1 against stock
stable_baselines3.PPO on Gymnasium's CartPole-v1, side by side in one run.

Sides: ``stock`` (stable_baselines3.PPO on Gymnasium's CartPole-v1 through SB3's ``make_vec_env``:
DummyVecEnv over Monitor), ``thrust`` (thrust_algos.PPO on Thrust/CartPole-v1) and, to separate
the environment's share of the gain from the algorithm's, ``stock on Thrust env``
(stable_baselines3.PPO on Thrust/CartPole-v1). thrust_algos.PPO reproduces SB3's PPO exactly on
the CPU, so the last two take the same steps to solve for a seed; the first differs only through
the environments' own reset randomness.

Protocol (every side identical):

- one torch thread, CPU, ``seed`` passed to the model and the VecEnv;
- every 5,000 environment steps the run pauses and evaluates 20 deterministic episodes on
  Gymnasium's CartPole-v1 (20 environments, seeded); it is solved when their mean return reaches
  475. Wall time counts ``learn`` only: the evaluations are excluded;
- the learning-rate and clip schedules run over ``--total-timesteps`` (100,000, as in RL-Zoo);
  a run that has not solved by then is reported as unsolved;
- one warm-up update per side before the timed runs (imports, numba caches, allocator);
- medians over ``--seeds`` seeds (5).

Settings: ``rl-zoo`` (RL-Zoo's CartPole-v1 PPO hyperparameters, 8 envs), ``large-batch`` (32 envs,
n_steps 64, batch 1024, 10 epochs, linear learning rate from 3e-3, gamma 0.98, GAE lambda 0.8) and
``thrust`` (the hyperparameters documented in THRUST_SETTING below).

With ``--gpu`` (and a CUDA device), it also measures end-to-end PPO throughput with 4,096
CartPole environments on the GPU, thrust against stock SB3.

Usage::

    python benchmarks/ppo.py                      # all CPU settings, 5 seeds
    python benchmarks/ppo.py --settings rl-zoo --seeds 2
    python benchmarks/ppo.py --gpu                # adds the GPU throughput table
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

import thrust_algos

SOLVED_AT = 475.0
EVAL_EVERY = 5_000
EVAL_EPISODES = 20


def linear(start: float) -> Callable[[float], float]:
    """SB3/RL-Zoo linear schedule: ``start`` at the beginning, 0 at ``total_timesteps``."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * start

    return schedule


SETTINGS: dict[str, dict[str, Any]] = {
    # RL-Zoo's hyperparameters for CartPole-v1 (hyperparams/ppo.yml).
    "rl-zoo": {
        "n_envs": 8,
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": linear(1e-3),
        "clip_range": linear(0.2),
    },
    "large-batch": {
        "n_envs": 32,
        "n_steps": 64,
        "batch_size": 1024,
        "n_epochs": 10,
        "learning_rate": linear(3e-3),
        "gamma": 0.98,
        "gae_lambda": 0.8,
    },
}
# thrust's setting, chosen for wall time on a small CPU, where the PPO update (not the environments)
# is what costs: 32 cheap environments, short rollouts, 10 epochs of 512-sample minibatches, a high
# linear learning rate, ReLU hidden layers (torch's CPU tanh is slow) and torch's fused Adam (same
# update rule, one kernel). Both sides run it with exactly these hyperparameters.
THRUST_SETTING: dict[str, Any] = {
    "n_envs": 32,
    "n_steps": 32,
    "batch_size": 512,
    "n_epochs": 10,
    "learning_rate": linear(3e-3),
    "gamma": 0.98,
    "gae_lambda": 0.8,
    "policy_kwargs": {
        "activation_fn": th.nn.ReLU,
        "optimizer_kwargs": {"eps": 1e-5, "fused": True},
    },
}
SETTINGS["thrust"] = THRUST_SETTING


class SolveTimer(BaseCallback):
    """Evaluate every ``EVAL_EVERY`` steps outside the clock; stop training once solved."""

    def __init__(self, eval_env: VecEnv):
        super().__init__()
        self.eval_env = eval_env
        self.next_eval = EVAL_EVERY
        self.eval_seconds = 0.0
        self.solved_at_step: int | None = None
        self.solved_at_time: float | None = None
        self.last_mean = float("nan")

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        self.next_eval += EVAL_EVERY
        paused = time.perf_counter()
        mean, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True
        )
        self.last_mean = float(mean)
        resumed = time.perf_counter()
        self.eval_seconds += resumed - paused
        if mean >= SOLVED_AT:
            self.solved_at_step = self.num_timesteps
            self.solved_at_time = paused
            return False
        return True


@dataclass
class Run:
    solved: bool
    steps: int
    seconds: float
    last_eval: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds


# The sides of a comparison: (algorithm, environment).
SIDES: dict[str, tuple[str, str]] = {
    "stock": ("stable_baselines3.PPO", "gymnasium"),
    "stock on Thrust env": ("stable_baselines3.PPO", "thrust"),
    "thrust": ("thrust_algos.PPO", "thrust"),
}


def make_env(env_kind: str, n_envs: int, seed: int) -> VecEnv:
    if env_kind == "thrust":
        from thrust_envs.sb3 import make_vec_env

        return make_vec_env("Thrust/CartPole-v1", n_envs, seed=seed)
    return sb3_make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed)


def make_model(side: str, setting: dict[str, Any], seed: int, device: str = "cpu"):
    algo_name, env_kind = SIDES[side]
    algo = thrust_algos.PPO if algo_name == "thrust_algos.PPO" else SB3PPO
    hyperparameters = {key: value for key, value in setting.items() if key != "n_envs"}
    env = make_env(env_kind, setting["n_envs"], seed)
    return algo("MlpPolicy", env, seed=seed, device=device, **hyperparameters)


def time_to_solve(side: str, setting: dict[str, Any], seed: int, total_timesteps: int) -> Run:
    model = make_model(side, setting, seed)
    eval_env = sb3_make_vec_env("CartPole-v1", n_envs=EVAL_EPISODES, seed=10_000 + seed)
    timer = SolveTimer(eval_env)
    start = time.perf_counter()
    model.learn(total_timesteps, callback=timer)
    end = time.perf_counter() if timer.solved_at_time is None else timer.solved_at_time
    seconds = end - start - timer.eval_seconds
    steps = timer.solved_at_step or model.num_timesteps
    return Run(timer.solved_at_step is not None, steps, seconds, timer.last_mean)


def warm_up(side: str, setting: dict[str, Any]) -> None:
    model = make_model(side, setting, seed=12_345)
    model.learn(setting["n_steps"] * setting["n_envs"])


def describe(setting: dict[str, Any]) -> str:
    parts = []
    for key, value in setting.items():
        if key == "policy_kwargs":
            activation = value["activation_fn"].__name__
            value = (
                f"dict(activation_fn={activation}, optimizer_kwargs={value['optimizer_kwargs']})"
            )
        elif callable(value):
            value = f"linear({value(1.0):g})"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def cpu_tables(settings: list[str], sides: list[str], seeds: list[int], total: int) -> None:
    th.set_num_threads(1)
    summary: list[str] = []
    for name in settings:
        setting = SETTINGS[name]
        print(f"\n### Time to solve CartPole-v1, setting `{name}`\n")
        print(f"Hyperparameters: {describe(setting)}; total_timesteps={total}.\n")
        for side in sides:
            warm_up(side, setting)
        runs: dict[str, list[Run]] = {side: [] for side in sides}
        print("| seed | side | solved | steps to solve | wall time (s) | steps/s |")
        print("| ---: | --- | --- | ---: | ---: | ---: |")
        for seed in seeds:
            for side in sides:
                run = time_to_solve(side, setting, seed, total)
                runs[side].append(run)
                solved = "yes" if run.solved else f"no (last eval {run.last_eval:.0f})"
                print(
                    f"| {seed} | {side} | {solved} | {run.steps} | {run.seconds:.2f} | "
                    f"{run.steps_per_second:,.0f} |",
                    flush=True,
                )
        stock_median = None
        for side in sides:
            solved = [run for run in runs[side] if run.solved]
            median_time = statistics.median([r.seconds for r in solved]) if solved else None
            median_steps = statistics.median([r.steps for r in solved]) if solved else None
            fps = statistics.median([run.steps_per_second for run in runs[side]])
            if side == "stock":
                stock_median = median_time
            ratio = "-"
            if median_time is not None and stock_median is not None:
                ratio = f"{median_time / stock_median:.2f}"
            summary.append(
                f"| {name} | {side} | {len(solved)}/{len(seeds)} | "
                + ("-" if median_time is None else f"{median_time:.2f}")
                + " | "
                + ("-" if median_steps is None else f"{median_steps:,.0f}")
                + f" | {fps:,.0f} | {ratio} |"
            )

    print("\n### Summary (medians; times and steps over solved runs, steps/s over all runs)\n")
    print(
        "| setting | side | solved | median time to solve (s) | median steps to solve "
        "| median steps/s | time / stock |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(summary))


def gpu_table(n_envs: int, updates: int, device: str = "cuda") -> None:
    """End-to-end PPO env-steps/s on CartPole with ``n_envs`` environments on the GPU."""
    print(f"\n### End-to-end PPO on the GPU, CartPole-v1, {n_envs} environments\n")
    if device == "cuda" and not th.cuda.is_available():
        print("Skipped: no CUDA device on this machine (no GPU figures were measured).")
        return
    sync = th.cuda.synchronize if device == "cuda" else lambda: None
    name = th.cuda.get_device_name() if device == "cuda" else device
    setting = {
        "n_envs": n_envs,
        "n_steps": 32,
        "batch_size": 32_768,
        "n_epochs": 4,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
    }
    print(f"Device: {name}. Hyperparameters: {describe(setting)}.\n")
    print("| side | environment | env-steps/s |")
    print("| --- | --- | ---: |")
    cases = [
        ("thrust_algos.PPO", "thrust", "Thrust/CartPole-v1 (ThrustVecEnv)"),
        ("stable_baselines3.PPO", "thrust", "Thrust/CartPole-v1 (ThrustVecEnv)"),
        ("stable_baselines3.PPO", "gymnasium", "CartPole-v1 (DummyVecEnv)"),
    ]
    for label, env_side, env_label in cases:
        algo = thrust_algos.PPO if label.startswith("thrust") else SB3PPO
        hyper = {key: value for key, value in setting.items() if key != "n_envs"}
        model = algo("MlpPolicy", make_env(env_side, n_envs, 0), seed=0, device=device, **hyper)
        steps_per_update = setting["n_steps"] * n_envs
        model.learn(steps_per_update)  # warm-up: allocations, kernels, caches
        sync()
        start = time.perf_counter()
        model.learn(updates * steps_per_update, reset_num_timesteps=False)
        sync()
        seconds = time.perf_counter() - start
        print(f"| {label} | {env_label} | {updates * steps_per_update / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="rl-zoo,large-batch,thrust")
    parser.add_argument(
        "--sides", default=",".join(SIDES), help=f"comma-separated, of {list(SIDES)}"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument("--gpu", action="store_true", help="add the GPU throughput table")
    parser.add_argument("--gpu-envs", type=int, default=4096)
    parser.add_argument("--gpu-updates", type=int, default=10)
    args = parser.parse_args()

    print(
        f"Date: {time.strftime('%Y-%m-%d')}; {platform.machine()}, Python "
        f"{platform.python_version()}, torch {th.__version__}, numpy {np.__version__}; "
        f"command: python benchmarks/ppo.py {' '.join(_argv())}"
    )
    settings = [name for name in args.settings.split(",") if name]
    unknown = set(settings) - SETTINGS.keys()
    if unknown:
        parser.error(f"unknown settings {sorted(unknown)}; choose from {sorted(SETTINGS)}")
    sides = [side for side in args.sides.split(",") if side]
    if set(sides) - SIDES.keys():
        parser.error(
            f"unknown sides {sorted(set(sides) - SIDES.keys())}; choose from {list(SIDES)}"
        )
    cpu_tables(settings, sides, list(range(args.seeds)), args.total_timesteps)
    if args.gpu:
        gpu_table(args.gpu_envs, args.gpu_updates)


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
