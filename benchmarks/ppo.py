"""Time to solve CartPole-v1: thrust_algos.PPO on Thrust/CartPole-v1 against stock
stable_baselines3.PPO on Gymnasium's CartPole-v1, side by side in one run.

Sides: ``stock`` (stable_baselines3.PPO on Gymnasium's CartPole-v1 through SB3's ``make_vec_env``:
DummyVecEnv over Monitor), ``thrust`` (thrust_algos.PPO on Thrust/CartPole-v1: the lean MLP and
the fused rollout, one numba call per rollout), ``thrust fused=False`` (the same with SB3's
per-step rollout loop: thrust before the fused rollout), ``purejaxrl`` (a PureJaxRL-style PPO, JAX +
gymnax on the CPU, benchmarks/purejaxrl_ppo.py; skipped with a message when jax/gymnax are not
installed; compile excluded from its times as the warm-up compiles it), ``cleanrl envpool``
(CleanRL's ppo.py, torch, on EnvPool's CartPole-v1, benchmarks/cleanrl_envpool_ppo.py; skipped
with a message when envpool is not installed; evaluated after whole updates, its granularity,
as PureJaxRL's) and, to separate the environment's share of the gain from the algorithm's,
``stock on Thrust env`` (stable_baselines3.PPO on Thrust/CartPole-v1).

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

``--throughput`` measures end-to-end env-steps/s at PureJaxRL's CartPole hyperparameters for
``--grid`` (envs x steps; 4x128, 32x32, 256x32), sides thrust (fused), thrust fused=False, stock,
purejaxrl and cleanrl envpool, with compile time apart and the time of every side but PureJaxRL
split into rollout, update and the rest; also Pendulum-v1 (Box actions) for the thrust sides.
``--compile`` times the fused rollout's first run in a fresh process with an empty numba cache,
then cached.

Side ``thrust lean=False`` (not run unless named in ``--sides``) is thrust_algos.PPO with SB3's
own forward and autograd update.

Usage::

    python benchmarks/ppo.py                      # all CPU settings, 5 seeds
    python benchmarks/ppo.py --settings rl-zoo --seeds 2
    python benchmarks/ppo.py --breakdown --settings rl-zoo,large-batch --repeats 3
    python benchmarks/ppo.py --grad-step --settings rl-zoo,large-batch
    python benchmarks/ppo.py --throughput --compile    # the fused rollout against PureJaxRL
    python benchmarks/ppo.py --gpu                # adds the GPU throughput table
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from common import header, make_parser
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
    """Evaluate every ``EVAL_EVERY`` steps outside the clock; stop training once solved.

    ``per_rollout``: evaluate at the end of a rollout instead (once ``EVAL_EVERY`` steps have
    passed), for batches so large that one step of every env is more than ``EVAL_EVERY``
    steps; training then stops at the next step."""

    def __init__(self, eval_env: VecEnv, per_rollout: bool = False):
        super().__init__()
        self.eval_env = eval_env
        self.per_rollout = per_rollout
        self.next_eval = EVAL_EVERY
        self.eval_seconds = 0.0
        self.solved_at_step: int | None = None
        self.solved_at_time: float | None = None
        self.last_mean = float("nan")

    def _on_step(self) -> bool:
        if self.per_rollout:
            return self.solved_at_step is None
        return self._evaluate()

    def _on_rollout_end(self) -> None:
        if self.per_rollout:
            self._evaluate()

    def _evaluate(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        self.next_eval = (
            self.num_timesteps + EVAL_EVERY if self.per_rollout else (self.next_eval + EVAL_EVERY)
        )
        paused = time.perf_counter()
        mean, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True
        )
        self.last_mean = float(mean)
        if mean >= SOLVED_AT:
            # The clock stops where this evaluation began: its own time is not subtracted
            # again (before 2026-12-03 it was, which cut one evaluation off every solve time).
            self.solved_at_step = self.num_timesteps
            self.solved_at_time = paused
            return False
        self.eval_seconds += time.perf_counter() - paused
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
    "thrust fused=False": ("thrust_algos.PPO fused=False", "thrust"),
    # Not SB3 models; their runs take their own paths (time_to_solve_external):
    # PureJaxRL-style PPO (benchmarks/purejaxrl_ppo.py) on gymnax's CartPole-v1,
    "purejaxrl": ("purejaxrl", "gymnax"),
    # CleanRL's ppo.py (benchmarks/cleanrl_envpool_ppo.py) on EnvPool's CartPole-v1.
    "cleanrl envpool": ("cleanrl", "envpool"),
}
EXTERNAL_SIDES = ("purejaxrl", "cleanrl envpool")
DEFAULT_SIDES = (
    "stock",
    "stock on Thrust env",
    "thrust",
    "thrust fused=False",
    "purejaxrl",
    "cleanrl envpool",
)
# Fixed step counts of --breakdown: whole updates of each setting.
BREAKDOWN_STEPS = {"rl-zoo": 10_240, "large-batch": 24_576, "thrust": 12_288}


def make_env(env_kind: str, n_envs: int, seed: int, env_name: str = "CartPole-v1") -> VecEnv:
    if env_kind == "thrust":
        from thrust_envs.sb3 import make_vec_env

        if env_name == "Pong-v0":  # the parameter-sharing view: n_envs rows, two per game
            return make_vec_env("Thrust/Pong-v0", max(1, n_envs // 2), seed=seed)
        return make_vec_env(f"Thrust/{env_name}", n_envs, seed=seed)
    if env_kind != "gymnasium":
        raise ValueError(f"{env_kind} envs are not SB3 VecEnvs")
    return sb3_make_vec_env(env_name, n_envs=n_envs, seed=seed)


def make_model(side: str, setting: dict[str, Any], seed: int, device: str = "cpu"):
    algo_name, env_kind = SIDES[side]
    hyperparameters = {key: value for key, value in setting.items() if key != "n_envs"}
    env = make_env(env_kind, setting["n_envs"], seed)
    if algo_name.startswith("thrust_algos.PPO"):
        lean = not algo_name.endswith("lean=False")
        fused = not algo_name.endswith("fused=False")
        return thrust_algos.PPO(
            "MlpPolicy", env, seed=seed, device=device, lean=lean, fused=fused, **hyperparameters
        )
    return SB3PPO("MlpPolicy", env, seed=seed, device=device, **hyperparameters)


def make_eval_env(seed: int) -> VecEnv:
    """The evaluation envs of a time-to-solve run (Gymnasium's CartPole-v1, one per episode)."""
    return sb3_make_vec_env("CartPole-v1", n_envs=EVAL_EPISODES, seed=10_000 + seed)


def time_to_solve(
    side: str, setting: dict[str, Any], seed: int, total_timesteps: int, device: str = "cpu"
) -> Run:
    """One seed's run of ``side``: env-steps and wall seconds (evaluations excluded) until the
    deterministic policy's mean over 20 episodes reaches 475. ``device`` places an SB3 model's
    policy (the env stays on the host); the external sides run where their own code puts them."""
    if side == "purejaxrl":
        return time_to_solve_purejaxrl(setting, seed, total_timesteps)
    if side == "cleanrl envpool":
        return time_to_solve_cleanrl(setting, seed, total_timesteps)
    model = make_model(side, setting, seed, device=device)
    eval_env = make_eval_env(seed)
    timer = SolveTimer(eval_env)
    sync = th.cuda.synchronize if th.device(device).type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    model.learn(total_timesteps, callback=timer)
    sync()
    end = time.perf_counter() if timer.solved_at_time is None else timer.solved_at_time
    seconds = end - start - timer.eval_seconds
    steps = timer.solved_at_step or model.num_timesteps
    return Run(timer.solved_at_step is not None, steps, seconds, timer.last_mean)


def purejaxrl() -> Any:
    """benchmarks/purejaxrl_ppo.py, or None (with a message) when jax/flax/optax/gymnax are
    missing: the PureJaxRL side is then skipped."""
    try:
        import purejaxrl_ppo
    except ImportError as error:
        print(f"(PureJaxRL side skipped: {error}; `pip install jax jaxlib gymnax`)")
        return None
    return purejaxrl_ppo


def cleanrl_envpool() -> Any:
    """benchmarks/cleanrl_envpool_ppo.py, or None (with a message) when envpool is missing: the
    CleanRL + EnvPool side is then skipped."""
    try:
        import cleanrl_envpool_ppo
    except ImportError as error:
        print(f"(CleanRL + EnvPool side skipped: {error}; `pip install envpool`, Linux)")
        return None
    return cleanrl_envpool_ppo


def time_to_solve_cleanrl(setting: dict[str, Any], seed: int, total_timesteps: int) -> Run:
    """CleanRL's PPO on EnvPool by the SB3 sides' protocol, at its granularity (whole updates):
    after each update that passes the next multiple of EVAL_EVERY steps, 20 deterministic
    episodes of Gymnasium's CartPole-v1 (``evaluate_policy``, the SB3 sides' eval envs),
    outside the clock. No compile to exclude."""
    module = cleanrl_envpool()
    assert module is not None
    agent = module.CleanRLPPO(module.config_from_setting(setting, total_timesteps), seed)
    eval_env = make_eval_env(seed)
    seconds, next_eval, mean = 0.0, EVAL_EVERY, float("nan")
    try:
        while agent.num_timesteps < total_timesteps:
            start = time.perf_counter()
            agent.update()
            seconds += time.perf_counter() - start
            if agent.num_timesteps >= next_eval:
                while next_eval <= agent.num_timesteps:
                    next_eval += EVAL_EVERY
                mean, _ = evaluate_policy(
                    agent, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True
                )
                if mean >= SOLVED_AT:
                    return Run(True, agent.num_timesteps, seconds, float(mean))
    finally:
        agent.close()
    return Run(False, agent.num_timesteps, seconds, float(mean))


def time_to_solve_purejaxrl(setting: dict[str, Any], seed: int, total_timesteps: int) -> Run:
    """The PureJaxRL-style PPO by the same protocol: evaluations (on gymnax's CartPole-v1, 20
    deterministic episodes) every EVAL_EVERY steps outside the clock; compile excluded."""
    module = purejaxrl()
    assert module is not None
    config = module.config_from_setting(setting, total_timesteps)
    solved, steps, seconds, mean = module.time_to_solve(
        config, seed, EVAL_EVERY, EVAL_EPISODES, SOLVED_AT
    )
    return Run(solved, steps, seconds, mean)


def warm_up(side: str, setting: dict[str, Any], device: str = "cpu") -> None:
    if side == "purejaxrl":
        time_to_solve_purejaxrl(setting, 12_345, 1)  # compiles the chunk and the evaluation
        return
    if side == "cleanrl envpool":
        time_to_solve_cleanrl(setting, 12_345, 1)  # one update: torch's first calls
        return
    model = make_model(side, setting, seed=12_345, device=device)
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


def solve_tables(
    settings: list[str], sides: list[str], seeds: list[int], total: int, device: str = "cpu"
) -> None:
    """The time-to-solve tables and their summary; ``device`` places the SB3 models' policies
    (``benchmarks/gpu_check.py`` runs them on a GPU with the envs on the host)."""
    th.set_num_threads(1)
    summary: list[str] = []
    for name in settings:
        setting = SETTINGS[name]
        where = "" if device == "cpu" else f", policies on {device}"
        print(f"\n### Time to solve CartPole-v1, setting `{name}`{where}\n")
        print(f"Hyperparameters: {describe(setting)}; total_timesteps={total}.\n")
        for side in sides:
            warm_up(side, setting, device)
        runs: dict[str, list[Run]] = {side: [] for side in sides}
        print("| seed | side | solved | steps to solve | wall time (s) | steps/s |")
        print("| ---: | --- | --- | ---: | ---: | ---: |")
        for seed in seeds:
            for side in sides:
                run = time_to_solve(side, setting, seed, total, device)
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
    ``repeats`` (each repeat a fresh model with the same seed, so the same work). PureJaxRL's
    rollout and update are one jitted call: it is left out here (``--throughput`` has it)."""
    th.set_num_threads(1)
    if "purejaxrl" in sides:
        print("(--breakdown leaves out purejaxrl: its rollout and update are one jitted call)")
        sides = [side for side in sides if side != "purejaxrl"]
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
                clock = {"rollout": 0.0, "update": 0.0}
                if side == "cleanrl envpool":
                    _cleanrl_run(setting, total, clock)
                else:
                    model = make_model(side, setting, seed=0)
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


def _cleanrl_run(setting: dict[str, Any], total: int, clock: dict[str, float]) -> float:
    """CleanRL's PPO on EnvPool for whole updates covering ``total`` steps (seed 0), adding
    its rollout and update seconds to ``clock``; returns the wall seconds of the run."""
    module = cleanrl_envpool()
    assert module is not None
    agent = module.CleanRLPPO(module.config_from_setting(setting, total), seed=0)
    start = time.perf_counter()
    try:
        while agent.num_timesteps < total:
            rollout, update = agent.update()
            clock["rollout"] += rollout
            clock["update"] += update
    finally:
        agent.close()
    return time.perf_counter() - start


def _timed(
    method: Callable[..., Any],
    clock: dict[str, float],
    key: str,
    sync: Callable[[], None] = lambda: None,
) -> Callable[..., Any]:
    """``method`` adding its seconds to ``clock[key]``; ``sync`` (e.g.
    ``torch.cuda.synchronize``) runs before and after, so that a device's queued work is
    counted where it was launched."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        sync()
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            sync()
            clock[key] += time.perf_counter() - start

    return timed


def grad_step_table(settings: list[str], repeats: int, iterations: int = 200) -> None:
    """Microseconds per minibatch gradient step (SB3's train() math through autograd, clipping,
    optimizer step) against thrust's lean step, on the setting's policy and batch size. "lean
    step" uses torch's default single-tensor Adam; "fused Adam" the fused Adam kernel
    (:func:`thrust_algos.lean.enable_fused_adam`: same update rule, one kernel, equal to float
    rounding); the last column what thrust's ``train`` runs: clipping and Adam in one compiled
    call (:class:`thrust_algos.lean_adam.LeanAdam`)."""
    th.set_num_threads(1)
    print(f"\n### One minibatch gradient step (µs, best of {repeats} x {iterations}, CPU)\n")
    print(
        "| setting | batch | SB3 autograd | lean loss + backward | lean step | SB3 / lean "
        "| lean step, fused Adam | lean step, LeanAdam (train's) | SB3 / train's |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in settings:
        setting = SETTINGS[name]
        best = _grad_step_times(setting, repeats, iterations)
        print(
            f"| {name} | {setting['batch_size']} | {best['sb3']:.0f} | {best['backward']:.0f} | "
            f"{best['lean']:.0f} | {best['sb3'] / best['lean']:.2f}x | {best['fused']:.0f} | "
            f"{best['compiled']:.0f} | {best['sb3'] / best['compiled']:.2f}x |",
            flush=True,
        )


def _grad_step_times(setting: dict[str, Any], repeats: int, iterations: int) -> dict[str, float]:
    from stable_baselines3.common.type_aliases import RolloutBufferSamples
    from torch.nn import functional as F

    from thrust_algos.lean import LeanActorCritic, enable_fused_adam
    from thrust_algos.lean_adam import LeanAdam

    batch_size, clip_range, ent_coef, vf_coef = setting["batch_size"], 0.2, 0.0, 0.5
    sb3_policy = make_model("stock", setting, seed=0).policy
    leans = []
    for fused in (False, True):
        policy = make_model("thrust", setting, seed=0).policy
        # The setting's own optimizer_kwargs may already ask for fused; the "lean" column is the
        # default single-tensor Adam, the "fused" column what thrust's train() switches to.
        defaults = {**policy.optimizer.defaults, "fused": None, "foreach": None}
        policy.optimizer = th.optim.Adam(policy.parameters(), **defaults)
        if fused:
            assert enable_fused_adam(policy.optimizer)
        lean = LeanActorCritic.from_policy(policy)
        assert lean is not None
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

    adam = LeanAdam.for_optimizer(leans[1].policy.optimizer, leans[1].parameters)
    assert adam is not None

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
        "compiled": lambda: (
            leans[1].ppo_backward(batch, clip_range, None, ent_coef, vf_coef, True),
            adam.step(0.5),
        ),
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


# (n_envs, n_steps) of the throughput table: PureJaxRL's default, and two wider batches.
GRID = ((4, 128), (32, 32), (256, 32))
THROUGHPUT_SIDES = ("thrust", "thrust fused=False", "stock", "purejaxrl", "cleanrl envpool")


def purejaxrl_setting(n_envs: int, n_steps: int) -> dict[str, Any]:
    """PureJaxRL's CartPole hyperparameters (purejaxrl/ppo.py) in SB3's terms, for ``n_envs`` x
    ``n_steps``: 4 epochs of 4 minibatches, linear learning rate from 2.5e-4, entropy 0.01."""
    return {
        "n_envs": n_envs,
        "n_steps": n_steps,
        "batch_size": n_envs * n_steps // 4,
        "n_epochs": 4,
        "learning_rate": linear(2.5e-4),
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "ent_coef": 0.01,
    }


def throughput_table(
    steps: int, grid: list[tuple[int, int]], env_names: list[str], sides: list[str]
) -> None:
    """End-to-end PPO env-steps/s at each (envs x steps) of ``grid`` with PureJaxRL's
    hyperparameters; each SB3-style side learns ``steps`` (whole updates) after a one-update
    warm-up whose extra time over a steady update is reported as compile; rollout / update /
    other seconds (other: the learn loop, callbacks, logging) split the timed run. PureJaxRL
    runs its updates as one jitted call: compile = first call - second call; its rollout and
    update are not separable there. Pendulum (Box actions) and Pong (the parameter-sharing
    view, envs = rows = 2 x games; its steps are agent-steps): the thrust sides only."""
    th.set_num_threads(1)
    module = purejaxrl()
    print(f"\n### PPO env-steps/s, PureJaxRL's hyperparameters, {steps:,} steps per run\n")
    print(
        "| env | envs x steps | side | env-steps/s | compile s | rollout s | update s | other s |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for env_name in env_names:
        for n_envs, n_steps in grid:
            setting = purejaxrl_setting(n_envs, n_steps)
            n_updates = max(1, steps // (n_envs * n_steps))
            total = n_updates * n_envs * n_steps
            for side in [side for side in THROUGHPUT_SIDES if side in sides]:
                if env_name != "CartPole-v1" and side in ("stock", *EXTERNAL_SIDES):
                    continue
                label = f"| {env_name} | {n_envs} x {n_steps} | {side} |"
                if side == "purejaxrl":
                    if module is None:
                        print(f"{label} skipped (jax/gymnax missing) | | | | |")
                        continue
                    config = module.config_from_setting(setting, total)
                    compile_s, fps = module.throughput(config, n_updates)
                    print(f"{label} {fps:,.0f} | {compile_s:.2f} | - | - | - |", flush=True)
                    continue
                if side == "cleanrl envpool":
                    _cleanrl_run(setting, n_envs * n_steps, {"rollout": 0.0, "update": 0.0})
                    clock = {"rollout": 0.0, "update": 0.0}
                    seconds = _cleanrl_run(setting, total, clock)
                    other = seconds - clock["rollout"] - clock["update"]
                    print(
                        f"{label} {total / seconds:,.0f} | - | {clock['rollout']:.2f} | "
                        f"{clock['update']:.2f} | {other:.2f} |",
                        flush=True,
                    )
                    continue
                row = _sb3_throughput(side, setting, total, env_name)
                print(f"{label} {row}", flush=True)


def _sb3_throughput(side: str, setting: dict[str, Any], total: int, env_name: str) -> str:
    algo_name, env_kind = SIDES[side]
    hyperparameters = {key: value for key, value in setting.items() if key != "n_envs"}
    env = make_env(env_kind, setting["n_envs"], 0, env_name)
    if algo_name.startswith("thrust_algos.PPO"):
        fused = not algo_name.endswith("fused=False")
        model = thrust_algos.PPO("MlpPolicy", env, seed=0, fused=fused, **hyperparameters)
    else:
        model = SB3PPO("MlpPolicy", env, seed=0, **hyperparameters)
    per_update = setting["n_envs"] * setting["n_steps"]
    start = time.perf_counter()
    model.learn(per_update)  # compiles (numba: from its cache after the first run) + one update
    first = time.perf_counter() - start
    clock = {"rollout": 0.0, "update": 0.0}
    model.collect_rollouts = _timed(model.collect_rollouts, clock, "rollout")
    model.train = _timed(model.train, clock, "update")
    start = time.perf_counter()
    model.learn(total, reset_num_timesteps=False)
    seconds = time.perf_counter() - start
    compile_s = max(0.0, first - seconds * per_update / total)
    other = seconds - clock["rollout"] - clock["update"]
    path = getattr(model, "rollout_path", None)
    note = "" if path in (None, "fused") or side != "thrust" else f" ({path})"
    return (
        f"{total / seconds:,.0f}{note} | {compile_s:.2f} | {clock['rollout']:.2f} | "
        f"{clock['update']:.2f} | {other:.2f} |"
    )


def compile_table() -> None:
    """Seconds to build a fused-rollout model and run its first rollout and update in a fresh
    process: with an empty numba cache (a machine's first run), again with the cache it left,
    then other envs on that cache (what a new env costs once another has been trained: its own
    rollout kernel, and for Box actions the Gaussian update kernel)."""
    import os
    import subprocess
    import sys
    import tempfile

    code = (
        "import sys, time; t = time.perf_counter()\n"
        "import thrust_algos; from thrust_envs.sb3 import make_vec_env\n"
        "imported = time.perf_counter()\n"
        "m = thrust_algos.PPO('MlpPolicy', make_vec_env(sys.argv[1], 4, seed=0),"
        " n_steps=8, batch_size=32, n_epochs=1, seed=0)\n"
        "m.learn(32); assert m.rollout_path == 'fused', m.rollout_path\n"
        "print(imported - t, time.perf_counter() - imported)\n"
    )
    runs = (
        ("Thrust/CartPole-v1", "empty (first run)"),
        ("Thrust/CartPole-v1", "warm (cached)"),
        ("Thrust/Acrobot-v1", "CartPole's (a new Discrete env)"),
        ("Thrust/Pendulum-v1", "CartPole's and Acrobot's (a new Box env)"),
    )
    print("\n### Fused rollout: first-run compile (fresh process; import excluded)\n")
    print("| env | numba cache | import s | build + first learn s |")
    print("| --- | --- | ---: | ---: |")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for env_id, label in runs:
            out = subprocess.run(
                [sys.executable, "-c", code, env_id],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            print(f"| {env_id} | {label} | {float(out[0]):.2f} | {float(out[1]):.2f} |", flush=True)


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


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
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
    parser.add_argument(
        "--throughput",
        action="store_true",
        help="env-steps/s at PureJaxRL's hyperparameters (fused, today, SB3, PureJaxRL)",
    )
    parser.add_argument("--throughput-steps", type=int, default=100_000)
    parser.add_argument(
        "--grid",
        default=",".join(f"{e}x{s}" for e, s in GRID),
        help="envs x steps of --throughput, e.g. 4x128,32x32",
    )
    parser.add_argument(
        "--throughput-envs",
        default="CartPole-v1,Pendulum-v1,Pong-v0",
        help="envs of --throughput (Pong-v0: the parameter-sharing view, envs = rows)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="the fused rollout's compile time, cold and cached"
    )
    parser.add_argument("--gpu", action="store_true", help="add the GPU throughput table")
    parser.add_argument("--gpu-envs", type=int, default=4096)
    parser.add_argument("--gpu-updates", type=int, default=10)
    args = parser.parse_args(argv)
    if args.quick:  # a smoke run: every table on tiny budgets
        args.seeds, args.total_timesteps = 1, 2_048
        args.breakdown_steps, args.repeats, args.throughput_steps = 2_048, 1, 2_048
        args.gpu_envs, args.gpu_updates = 64, 1

    print(
        header(
            "PPO: Thrust against stock SB3 and peers",
            __file__,
            argv,
            f"torch {th.__version__} ({th.get_num_threads()} threads)",
            f"numpy {np.__version__}",
        )
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
    try:
        grid = [tuple(int(x) for x in cell.split("x")) for cell in args.grid.split(",") if cell]
        assert all(len(cell) == 2 and min(cell) > 0 for cell in grid)
    except (ValueError, AssertionError):
        parser.error(f"--grid must look like 4x128,32x32 (envs x steps), got {args.grid!r}")
    env_names = [name for name in args.throughput_envs.split(",") if name]
    if set(env_names) - {"CartPole-v1", "Pendulum-v1", "Pong-v0"}:
        parser.error(f"--throughput-envs: of CartPole-v1, Pendulum-v1 and Pong-v0, got {env_names}")
    if "purejaxrl" in sides and purejaxrl() is None:
        sides.remove("purejaxrl")
    if "cleanrl envpool" in sides and cleanrl_envpool() is None:
        sides.remove("cleanrl envpool")
    if args.throughput or args.compile:
        if args.compile:
            compile_table()
        if args.throughput:
            throughput_table(args.throughput_steps, grid, env_names, sides)  # type: ignore[arg-type]
        return 0
    if args.breakdown or args.grad_step:
        if args.breakdown:
            breakdown_table(settings, sides, args.repeats, args.breakdown_steps)
        if args.grad_step:
            grad_step_table(settings, args.repeats)
        return 0
    solve_tables(settings, sides, list(range(args.seeds)), args.total_timesteps)
    if args.gpu:
        gpu_table(args.gpu_envs, args.gpu_updates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
