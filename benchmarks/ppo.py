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

``--breakdown`` measures instead where the time goes: each side learns a fixed number of steps
(``BREAKDOWN_STEPS``, or ``--breakdown-steps``) from the same seed, with ``collect_rollouts`` and
``train`` timed apart; sides interleaved, best of ``--repeats``. ``--grad-step`` times one
minibatch gradient step of the setting's policy (loss, backward, clipping, optimizer step) in
SB3's autograd path against thrust's lean path, interleaved, best of ``--repeats``.

Side ``thrust lean=False`` (not run unless named in ``--sides``) is thrust_algos.PPO with SB3's
own forward and autograd update.

Usage::

    python benchmarks/ppo.py                      # all CPU settings, 5 seeds
    python benchmarks/ppo.py --settings rl-zoo --seeds 2
    python benchmarks/ppo.py --breakdown --settings rl-zoo,large-batch --repeats 3
    python benchmarks/ppo.py --grad-step --settings rl-zoo,large-batch
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
    "thrust lean=False": ("thrust_algos.PPO lean=False", "thrust"),
}
DEFAULT_SIDES = ("stock", "stock on Thrust env", "thrust")
# Fixed step counts of --breakdown: whole updates of each setting.
BREAKDOWN_STEPS = {"rl-zoo": 10_240, "large-batch": 24_576, "thrust": 12_288}


def make_env(env_kind: str, n_envs: int, seed: int) -> VecEnv:
    if env_kind == "thrust":
        from thrust_envs.sb3 import make_vec_env

        return make_vec_env("Thrust/CartPole-v1", n_envs, seed=seed)
    return sb3_make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed)


def make_model(side: str, setting: dict[str, Any], seed: int, device: str = "cpu"):
    algo_name, env_kind = SIDES[side]
    hyperparameters = {key: value for key, value in setting.items() if key != "n_envs"}
    env = make_env(env_kind, setting["n_envs"], seed)
    if algo_name.startswith("thrust_algos.PPO"):
        lean = not algo_name.endswith("lean=False")
        return thrust_algos.PPO(
            "MlpPolicy", env, seed=seed, device=device, lean=lean, **hyperparameters
        )
    return SB3PPO("MlpPolicy", env, seed=seed, device=device, **hyperparameters)


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


def breakdown_table(settings: list[str], sides: list[str], repeats: int, steps: int | None) -> None:
    """Rollout and update seconds of a fixed number of steps, sides interleaved, best of
    ``repeats`` (each repeat a fresh model with the same seed, so the same work)."""
    th.set_num_threads(1)
    print("\n### Where the time goes (fixed step count, best of", repeats, "repeats)\n")
    print("| setting | side | rollout s | update s | total s | steps/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name in settings:
        setting = SETTINGS[name]
        total = steps or BREAKDOWN_STEPS[name]
        for side in sides:
            warm_up(side, setting)
        best: dict[str, tuple[float, float]] = {}
        for _ in range(repeats):
            for side in sides:
                model = make_model(side, setting, seed=0)
                clock = {"rollout": 0.0, "update": 0.0}
                model.collect_rollouts = _timed(model.collect_rollouts, clock, "rollout")
                model.train = _timed(model.train, clock, "update")
                model.learn(total)
                previous = best.get(side)
                if previous is None or sum(previous) > clock["rollout"] + clock["update"]:
                    best[side] = (clock["rollout"], clock["update"])
        for side in sides:
            rollout, update = best[side]
            label = f"{name} ({total:,} steps)" if side == sides[0] else name
            print(
                f"| {label} | {side} | {rollout:.2f} | {update:.2f} | {rollout + update:.2f} | "
                f"{total / (rollout + update):,.0f} |",
                flush=True,
            )


def _timed(method: Callable[..., Any], clock: dict[str, float], key: str) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            clock[key] += time.perf_counter() - start

    return timed


def grad_step_table(settings: list[str], repeats: int, iterations: int = 200) -> None:
    """Microseconds per minibatch gradient step (SB3's train() math through autograd, clipping,
    optimizer step) against thrust's lean step, on the setting's policy and batch size. The last
    column is the lean step with ``fused=True`` Adam (one kernel; not bit-identical to SB3's Adam,
    so thrust does not switch to it on its own)."""
    th.set_num_threads(1)
    print(f"\n### One minibatch gradient step (µs, best of {repeats} x {iterations}, CPU)\n")
    print(
        "| setting | batch | SB3 autograd | lean loss + backward | lean step | SB3 / lean "
        "| lean step, fused Adam |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in settings:
        setting = SETTINGS[name]
        best = _grad_step_times(setting, repeats, iterations)
        print(
            f"| {name} | {setting['batch_size']} | {best['sb3']:.0f} | {best['backward']:.0f} | "
            f"{best['lean']:.0f} | {best['sb3'] / best['lean']:.2f}x | {best['fused']:.0f} |",
            flush=True,
        )


def _grad_step_times(setting: dict[str, Any], repeats: int, iterations: int) -> dict[str, float]:
    from stable_baselines3.common.type_aliases import RolloutBufferSamples
    from torch.nn import functional as F

    from thrust_algos.lean import LeanActorCritic, enable_foreach_adam

    batch_size, clip_range, ent_coef, vf_coef = setting["batch_size"], 0.2, 0.0, 0.5
    sb3_policy = make_model("stock", setting, seed=0).policy
    leans = []
    for fused in (False, True):
        policy = make_model("thrust", setting, seed=0).policy
        if fused:
            policy.optimizer = th.optim.Adam(
                policy.parameters(), **{**policy.optimizer.defaults, "fused": True}
            )
        lean = LeanActorCritic.from_policy(policy)
        assert lean is not None
        enable_foreach_adam(policy.optimizer)
        leans.append(lean)
    generator = th.Generator().manual_seed(0)
    batch = RolloutBufferSamples(
        th.randn(batch_size, 4, generator=generator),
        th.randint(0, 2, (batch_size, 1), generator=generator).float(),
        th.randn(batch_size, generator=generator),
        th.randn(batch_size, generator=generator) - 0.7,
        th.randn(batch_size, generator=generator),
        th.randn(batch_size, generator=generator),
    )

    def sb3_step() -> None:
        # stable_baselines3.PPO.train's loop body, its host reads included.
        values, log_prob, entropy = sb3_policy.evaluate_actions(
            batch.observations, batch.actions.long().flatten()
        )
        values = values.flatten()
        advantages = batch.advantages
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = th.exp(log_prob - batch.old_log_prob)
        policy_loss_1 = advantages * ratio
        policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
        policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
        policy_loss.item()
        th.mean((th.abs(ratio - 1) > clip_range).float()).item()
        value_loss = F.mse_loss(batch.returns, values)
        value_loss.item()
        entropy_loss = -th.mean(entropy)
        entropy_loss.item()
        loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
        with th.no_grad():
            log_ratio = log_prob - batch.old_log_prob
            th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
        sb3_policy.optimizer.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(sb3_policy.parameters(), 0.5)
        sb3_policy.optimizer.step()

    def lean_step(lean: LeanActorCritic, backward_only: bool = False) -> None:
        lean.ppo_backward(batch, clip_range, None, ent_coef, vf_coef, True)
        if not backward_only:
            th.nn.utils.clip_grad_norm_(lean.parameters, 0.5, foreach=True)
            lean.policy.optimizer.step()

    steps = {
        "sb3": sb3_step,
        "backward": lambda: lean_step(leans[0], backward_only=True),
        "lean": lambda: lean_step(leans[0]),
        "fused": lambda: lean_step(leans[1]),
    }
    best = dict.fromkeys(steps, float("inf"))
    for step in steps.values():
        for _ in range(20):
            step()
    for _ in range(repeats):
        for key, step in steps.items():
            start = time.perf_counter()
            for _ in range(iterations):
                step()
            best[key] = min(best[key], (time.perf_counter() - start) / iterations * 1e6)
    return best


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
        "--sides", default=",".join(DEFAULT_SIDES), help=f"comma-separated, of {list(SIDES)}"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument(
        "--breakdown", action="store_true", help="rollout and update seconds of a fixed run"
    )
    parser.add_argument("--breakdown-steps", type=int, default=None)
    parser.add_argument(
        "--grad-step", action="store_true", help="one gradient step, SB3 against lean"
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of (--breakdown/--grad-step)")
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
    if args.breakdown or args.grad_step:
        if args.breakdown:
            breakdown_table(settings, sides, args.repeats, args.breakdown_steps)
        if args.grad_step:
            grad_step_table(settings, args.repeats)
        return
    cpu_tables(settings, sides, list(range(args.seeds)), args.total_timesteps)
    if args.gpu:
        gpu_table(args.gpu_envs, args.gpu_updates)


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
