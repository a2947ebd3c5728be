"""The prepared device check (issue 14): every GPU table of the project in one run.

On a CUDA machine (a lent H100/H200: run ``bash benchmarks/gpu_check.sh``, which installs the
carried wheels first) it prints these tables, each under the name ``--only`` takes, the issues'
targets first:

- ``probe``: the packages' versions, the device, and one numba-cuda kernel writing a torch
  tensor on torch's stream (the interop the device envs rest on).
- ``gae``: the ``"triton"`` kernel, the ``"torch"`` loop on the device and SB3's numpy loop on
  the host, against the memory floor (the recursion's bytes over the device's measured copy
  bandwidth), at (128, 4096), (128, 65536) and (2048, 1); each device result is compared bit
  for bit with SB3's before it is timed.
- ``gae-shapes``: the Triton kernel at other launch shapes (envs a program, warps, stages),
  each bit-equal to SB3, against the floor: what to tune its launch to.
- ``ppo``: end-to-end PPO env-steps/s on Thrust/CartPole-v1 at 1024, 4096 and 16384 envs,
  thrust against stock SB3 on the same device (``benchmarks/ppo.py``'s ``gpu_table``).
- ``device-envs``: the device envs of issue 18 (``thrust_envs.cuda.make_vec(env_id, num_envs,
  device="cuda")``), env-steps/s at 4096, 65,536 and 1M envs.
- ``device-ppo``: ``thrust_algos.PPO`` end to end on a device env (the rollout never leaves the
  device, ``rollout_path == "device"``), env-steps/s at 4096 and 65,536 envs, with the seconds
  spent in rollouts and in updates and the host synchronisations of one rollout (torch's sync
  debug mode), with the update's minibatch step in a CUDA graph and eager (``cuda_graphs``), in
  each of :data:`DEVICE_PPO_LAYOUTS` (minibatches of 65,536; PureJaxRL's 4 a rollout; those with
  a linear learning rate, which captures a graph anew each update), saying how many gradient
  steps an update takes and how many graphs the run captured.
- ``device-solve``: the time to solve CartPole with the env on the device (3 seeds,
  ``benchmarks/ppo.py``'s protocol, evaluated after each rollout; the kernels' compile timed
  apart, the timed model's own warm-up inside the clock).
- ``pong``: Pong self-play by parameter sharing (``thrust_envs.cuda.make_vec("Thrust/Pong-v0",
  G)``, rows ``g * 2 + a``), agent-steps/s with the game on the device against the CPU game
  (``SharedGameVecEnv``) feeding the same device, and the learner against a device policy
  (``.vs_opponent(opponent)``), at 1024 and 16,384 games, with the device's ratios to the
  CPU game.
- ``device-step-costs``: where a step of the device rollout spends its time, part by part (a
  torch op, a bare numba-cuda launch, the env's two kernels, its ``step``, the SB3 view's
  ``device_step``, the act graphed and eager, the value forward, a whole rollout step), in
  microseconds a call until the calls returned and until the device finished them.
- ``agreement``: issue 18's hardware contract measured: every env's and game's CUDA kernels
  against the CPU kernels, one step at a time from identical arrays (the one-step error, with
  bounds that fail the table) and running free (how long trajectories stay together).
- ``rollout``: the rollout alone (``collect_rollouts``) of ``thrust_algos.PPO`` on a Thrust
  VecEnv through the staged step (``thrust_algos.device_rollout``: pinned staging buffers,
  non-blocking uploads, the masked bootstrap, the lean act in a CUDA graph), with and without
  double buffering, saying which path ran and whether the act was graphed, and checking that the
  last staged observations are the env's.
- ``solve``: issue 14's time to solve with the policy on the GPU and the env on the host, by
  ``benchmarks/ppo.py``'s protocol and its ``thrust`` setting, thrust against stock SB3.

The device-env tables are skipped (saying so) where ``thrust_envs.cuda`` is not importable. A
table that raises prints its traceback and the run goes on to the next; in the device tables
a row (one configuration) that raises does the same within its table. The run then ends with
exit status 1 and a last table says which failed (and which ``--deadline`` left out), so one
call on a lent machine yields every figure that could be measured.

Without CUDA it says that CUDA was absent and prints the same tables on the CPU at small
sizes: that run is CI's smoke test of this script (``tests/test_benchmarks_smoke.py``); under
``NUMBA_ENABLE_CUDASIM=1`` the device-env tables run on CPU tensors in the simulator (tiny
sizes).

Usage::

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick] [--only gae,ppo,...]
        [--deadline SECONDS]
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from common import fmt_ratio, header, make_parser
from gae import GPU_SIZES, triton_variants_table
from gae import gpu_table as gae_table
from ppo import EVAL_EPISODES, SolveTimer, _timed, describe, linear, solve_tables
from ppo import gpu_table as ppo_gpu_table
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

CPU_GAE_SIZES = [(16, 64), (64, 1)]
GPU_PPO_ENVS = [1024, 4096, 16_384]
CPU_PPO_ENVS = [16]
DEVICE_ENV_SIZES = [4096, 65_536, 1 << 20]  # issue 18's targets are at 65,536 and 1M envs
DEVICE_PPO_ENVS = [4096, 65_536]  # issue 18's PPO target is at 65,536 envs
CPU_DEVICE_ENVS = [8]  # under the CUDA simulator: a smoke test
PONG_GAMES = [1024, 16_384]  # self-play Pong: 2 rows a game
# End-to-end PPO with the env on the device: large batches, few epochs.
DEVICE_PPO: dict[str, Any] = {"n_steps": 32, "batch_size": 65_536, "n_epochs": 4}
# The device-ppo table's update layouts: DEVICE_PPO's minibatches of 65,536 samples (32 of them
# a rollout at 65,536 envs), PureJaxRL's 4 minibatches a rollout (its NUM_MINIBATCHES, the
# layout of benchmarks/ppo.py's throughput tables), and those with a linear learning rate (as
# PureJaxRL anneals it), which changes a graph's key every update and so captures anew each.
DEVICE_PPO_LAYOUTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "batch 65,536": lambda rollout: {"batch_size": min(65_536, rollout)},
    "4 minibatches": lambda rollout: {"batch_size": rollout // 4},
    "4 minibatches, linear lr": lambda rollout: {
        "batch_size": rollout // 4,
        "learning_rate": linear(3e-4),
    },
}
# Solving with large batches, chosen by benchmarks/solve_counts.py (setting D: rollouts and
# gradient steps to solve, counted on the CPU). On the H200 (2026-12-04) setting A (batch 8192,
# learning rate 5e-3) solved in a median of 1.40 s: 11 rollouts of about 24 ms and 64 gradient
# steps of about 1.6 ms each. D solves in as many rollouts (median 11) with 16 gradient steps an
# update, a quarter of A's.
DEVICE_SOLVE: dict[str, Any] = {
    "n_envs": 4096,
    "n_steps": 32,
    "batch_size": 32_768,
    "n_epochs": 4,
    "learning_rate": 1e-2,
    "gamma": 0.99,
    "gae_lambda": 0.95,
}


def _device_make_vec(device: str) -> Any:
    """``thrust_envs.cuda.make_vec``, or None after printing why the table is skipped."""
    try:
        from thrust_envs.cuda import make_vec
    except ImportError as error:
        print(f"Skipped: thrust_envs.cuda is not importable ({error}).")
        return None
    if device != "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        print("Skipped: device envs run on CUDA (tests/test_cuda_*.py check them on the CPU).")
        return None
    return make_vec


def _sync(device: str) -> Callable[[], None]:
    return th.cuda.synchronize if device == "cuda" else (lambda: None)


# The rows that failed in the table running now (main reports its table FAILED).
FAILED_ROWS: list[str] = []


@contextlib.contextmanager
def one_row(label: str) -> Any:
    """One row of a table: an exception prints its traceback and a FAILED line, and the table
    goes on with its other rows (a failing configuration must not cost the others' figures)."""
    try:
        yield
    except Exception:
        traceback.print_exc(file=sys.stdout)
        print(f"| {label} | FAILED (traceback above) |", flush=True)
        FAILED_ROWS.append(label)


# ``speed / anchor`` as ``1.23x``, or ``-`` without an anchor (the anchor's row failed).
ratio = functools.partial(fmt_ratio, digits=2, missing="-")


def device_env_table(device: str, sizes: list[int], steps: int) -> None:
    """Issue 18's device envs, written against ``thrust_envs.cuda.make_vec``: raw steps, the
    step's kernels replayed from a CUDA graph and launched."""
    print(
        "\n### Device envs (thrust_envs.cuda), Thrust/CartPole-v1, every action 0\n\n"
        f"{steps} steps after two (NextStep autoreset); cuda_graph: the step's two kernels "
        "replayed from a CUDA graph, or launched every step (first: its row is the anchor of "
        "the graph's ratio).\n"
    )
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    sync = _sync(device)
    print("| envs | cuda_graph | step path | env-steps/s | vs launched |")
    print("| ---: | --- | --- | ---: | ---: |")
    for num_envs in sizes:
        launched = None
        for cuda_graph in (False, True):
            with one_row(f"{num_envs} | {cuda_graph}"):
                envs = make_vec(
                    "Thrust/CartPole-v1", num_envs, device=device, cuda_graph=cuda_graph
                )
                envs.reset(seed=0)
                actions = th.zeros(num_envs, dtype=th.int64, device=device)
                envs.step(actions)
                envs.step(actions)  # the second step captures the graph
                sync()
                start = time.perf_counter()
                for _ in range(steps):
                    envs.step(actions)
                sync()
                speed = steps * num_envs / (time.perf_counter() - start)
                launched = speed if not cuda_graph else launched
                print(
                    f"| {num_envs} | {cuda_graph} | {envs.step_path} | {speed:,.0f} | "
                    f"{ratio(speed, launched) if cuda_graph else '-'} |"
                )


def rollout_table(device: str, sizes: list[int], rollouts: int) -> None:
    """The staged rollout of ``thrust_algos.PPO`` alone (no update), Thrust/CartPole-v1."""
    import thrust_algos
    from thrust_envs.sb3 import make_vec_env

    print("\n### PPO rollout alone (staged step), Thrust/CartPole-v1, n_steps 32\n")
    sync = th.cuda.synchronize if device == "cuda" else (lambda: None)
    print("| envs | double_buffer | rollout path | act graphed | env-steps/s |")
    print("| ---: | --- | --- | --- | ---: |")
    for num_envs, double_buffer in ((n, d) for n in sizes for d in (False, True)):
        env = make_vec_env("Thrust/CartPole-v1", num_envs, seed=0, max_episode_steps=50)
        # fused=False: on the CPU the fused rollout would run instead of the staged step.
        model = thrust_algos.PPO(
            "MlpPolicy",
            env,
            n_steps=32,
            batch_size=32 * num_envs,
            seed=0,
            device=device,
            fused=False,
            double_buffer=double_buffer,
        )
        _, callback = model._setup_learn(10**9, callback=None)
        callback.on_training_start(locals(), globals())
        model.collect_rollouts(env, callback, model.rollout_buffer, 32)  # warm-up, graph capture
        sync()
        start = time.perf_counter()
        for _ in range(rollouts):
            model.collect_rollouts(env, callback, model.rollout_buffer, 32)
        sync()
        seconds = time.perf_counter() - start
        if not np.array_equal(model._last_obs, env._batch.obs) or not bool(
            th.isfinite(model.rollout_buffer.returns_tensor).all()
        ):
            raise AssertionError(f"the staged rollout at {num_envs} envs lost the env's state")
        graphed = model._graphed_act is not None
        print(
            f"| {num_envs} | {double_buffer} | {model.rollout_path} | {graphed} | "
            f"{rollouts * 32 * num_envs / seconds:,.0f} |"
        )


def _timed_learn(
    envs: Any,
    device: str,
    updates: int,
    cuda_graphs: bool = True,
    layout: Callable[[int], dict[str, Any]] = DEVICE_PPO_LAYOUTS["batch 65,536"],
) -> tuple[Any, float, dict[str, float]]:
    """``thrust_algos.PPO`` with :data:`DEVICE_PPO` and ``layout(samples a rollout)`` on
    ``envs``: one update of warm-up (kernels, graph capture), then ``updates`` timed; the model,
    env-steps/s and the seconds spent in rollouts and in updates."""
    import thrust_algos

    sync = _sync(device)
    rollout = DEVICE_PPO["n_steps"] * envs.num_envs
    hyperparameters = {**DEVICE_PPO, **layout(rollout)}
    model = thrust_algos.PPO(
        "MlpPolicy", envs, seed=0, device=device, cuda_graphs=cuda_graphs, **hyperparameters
    )
    model.learn(rollout)
    times = {"rollout": 0.0, "update": 0.0}
    model.collect_rollouts = _timed(model.collect_rollouts, times, "rollout", sync)
    model.train = _timed(model.train, times, "update", sync)
    sync()
    start = time.perf_counter()
    model.learn(updates * rollout, reset_num_timesteps=False)
    sync()
    seconds = time.perf_counter() - start
    if not th.isfinite(model.rollout_buffer.returns_tensor).all():
        raise AssertionError(f"PPO on {envs} gave non-finite returns")
    return model, updates * rollout / seconds, times


def device_ppo_table(device: str, sizes: list[int], updates: int) -> None:
    """Issue 18: ``thrust_algos.PPO`` on a device env, the whole rollout on the device."""

    print(
        "\n### PPO end to end with the env on the device (thrust_envs.cuda), "
        f"Thrust/CartPole-v1\n\n{describe(DEVICE_PPO)}, {updates} updates after one of warm-up; "
        "layout: the batch size a rollout of n_steps x envs samples is cut into (and the "
        "learning rate where it is not constant), minibatch steps: the update's gradient steps, "
        "cuda_graphs: PPO's option, which graphs both the rollout's act and the update's "
        "minibatch step (act: which one ran), env step: the device env's own step path, "
        "captures: the CUDA graphs the update captured over the run; vs eager: env-steps/s "
        "over the eager row's (run first) of the same envs and layout.\n"
    )
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    print(
        "| envs | layout | minibatch steps | cuda_graphs | act | env step | rollout path | "
        "update path | env-steps/s | vs eager | rollout s | update s | captures | "
        "host syncs a rollout |"
    )
    print(
        "| ---: | --- | ---: | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: "
        "| ---: |"
    )
    for num_envs in sizes:
        for name, layout in DEVICE_PPO_LAYOUTS.items():
            eager = None
            for cuda_graphs in (False, True):  # eager, then the act and minibatch step graphed
                with one_row(f"{num_envs} | {name} | - | {cuda_graphs}"):
                    envs = make_vec("Thrust/CartPole-v1", num_envs, device=device,
                                    autoreset_mode="SameStep")  # fmt: skip
                    model, speed, times = _timed_learn(envs, device, updates, cuda_graphs, layout)
                    eager = speed if not cuda_graphs else eager
                    n_samples = model.n_steps * num_envs
                    steps = model.n_epochs * (n_samples // model.batch_size)
                    graphed = model._graphed_update
                    captures = "-" if graphed is None else graphed.captures
                    act = "graph" if model._graphed_act else "eager"
                    print(
                        f"| {num_envs} | {name} | {steps} | {cuda_graphs} | {act} | "
                        f"{envs.step_path} | {model.rollout_path} | "
                        f"{model.update_path} | {speed:,.0f} | "
                        f"{ratio(speed, eager) if cuda_graphs else '-'} | "
                        f"{times['rollout']:.3f} | {times['update']:.3f} | {captures} | "
                        f"{_rollout_syncs(model)} |"
                    )


def _rollout_syncs(model: Any) -> str:
    """How many times one more rollout of ``model`` made the host wait for the GPU, counted by
    torch's sync debug mode (``"-"`` off CUDA). The design allows a few per rollout (the
    episodes' read, the last observations), none per step."""
    if model.device.type != "cuda":
        return "-"
    import warnings

    _, callback = model._setup_learn(10**9, callback=None, reset_num_timesteps=False)
    callback.on_training_start(locals(), globals())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        th.cuda.set_sync_debug_mode("warn")
        try:
            model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
        finally:
            th.cuda.set_sync_debug_mode("default")
    return str(sum("synchroniz" in str(w.message) for w in caught))


def _per_call(function: Callable[[], Any], calls: int, sync: Callable[[], None]) -> tuple:
    """Microseconds a call of ``function`` over ``calls`` calls after one: until the calls had
    returned (the host's time, while the device's queue has room) and until the device had
    finished them. Equal: the host sets the pace; the second larger: the device does."""
    function()
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        function()
    returned = time.perf_counter()
    sync()
    finished = time.perf_counter()
    return 1e6 * (returned - start) / calls, 1e6 * (finished - start) / calls


def device_step_costs_table(device: str, sizes: list[int], calls: int) -> None:
    """Where a step of the device rollout spends its time: each part of
    ``thrust_algos.device_rollout.collect_on_device``'s step timed alone, from a bare launch to
    the whole step. On the H200 (2026-12-04) a rollout step took about 0.75 ms at 4096 envs as
    at 65,536 and a raw env step about 0.3 ms from 4096 envs to 1M: host time, which this table
    takes apart."""
    print(
        "\n### Where a device rollout step's time goes, Thrust/CartPole-v1\n\n"
        f"Microseconds a call, {calls} calls after one: until they returned (the host) and until "
        "the device finished them. The rollout step is a whole rollout's time over its n_steps "
        "(thrust_algos.PPO, the env on the device, SameStep autoreset).\n"
    )
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    print("| envs | part | us a call: returned | us a call: device done |")
    print("| ---: | --- | ---: | ---: |")
    paths = []
    for num_envs in sizes:
        with one_row(f"{num_envs} | every part"):
            settings = {"device": device, "autoreset_mode": "SameStep"}
            envs, launched = (
                make_vec("Thrust/CartPole-v1", num_envs, cuda_graph=graph, **settings)
                for graph in (True, False)
            )
            for name, (returned, done) in _step_costs(envs, launched, device, calls).items():
                print(f"| {num_envs} | {name} | {returned:,.1f} | {done:,.1f} |")
            paths.append(f"{num_envs} envs: {envs.step_path}")
    print(f"\nThe cuda_graph=True env's step path: {'; '.join(paths)}.")


def _step_costs(
    envs: Any, launched: Any, device: str, calls: int
) -> dict[str, tuple[float, float]]:
    """:func:`device_step_costs_table`'s parts on a device env (``launched``: the same with
    ``cuda_graph=False``): ``{part: (returned, done)}``, microseconds a call (a rollout
    step's: its rollout's over ``n_steps``)."""
    import thrust_algos
    from thrust_algos.device_rollout import GraphedAct, graphed_act
    from thrust_envs.cuda.targets import launch

    sync = _sync(device)
    num_envs = envs.num_envs
    view = envs.as_sb3_vec_env(seed=0)
    view.reset()
    launched.reset(seed=0)
    actions = th.zeros(num_envs, dtype=th.int64, device=device)
    gym_view = gym.make_vec("Thrust/CartPole-v1", num_envs, device=device,
                            autoreset_mode="SameStep")  # fmt: skip
    gym_view.reset(seed=0)
    for env in (envs, launched, gym_view):  # a cuda_graph env's second step captures: untimed
        env.step(actions)
        env.step(actions)
    tensor = th.zeros(num_envs, device=device)
    kernel_view = envs._array(tensor)
    n_steps = DEVICE_PPO["n_steps"]
    model = thrust_algos.PPO("MlpPolicy", view, seed=0, device=device, n_steps=n_steps,
                             batch_size=n_steps * num_envs)  # fmt: skip
    lean = model._lean_actor_critic()
    obs = envs.observations
    act = graphed_act(model, lean, obs)
    _, callback = model._setup_learn(10**9, callback=None)
    callback.on_training_start(locals(), globals())
    graphed = "a CUDA graph (GraphedAct)" if isinstance(act, GraphedAct) else "no graph here"
    parts: dict[str, tuple[Callable[[], Any], int]] = {
        "torch: one elementwise op": (lambda: tensor.add_(1.0), 1),
        "numba-cuda: a kernel view of a tensor (as_cuda_array)": (lambda: envs._array(tensor), 1),
        "numba-cuda: a launch of one array": (
            lambda: launch(_fill_kernel(), num_envs, envs._stream(), kernel_view),
            1,
        ),
        "device env: its two kernels launched (validate, step)": (envs._launch_step, 1),
        "device env: step(actions), cuda_graph=False": (lambda: launched.step(actions), 1),
        "device env: step(actions), cuda_graph=True": (lambda: envs.step(actions), 1),
        "SB3 view: device_step(actions)": (lambda: view.device_step(actions), 1),
        "Gymnasium view (gym.make_vec(device=...)): step(actions), copies and infos": (
            lambda: gym_view.step(actions),
            1,
        ),
        f"act on the observations: {graphed}": (lambda: act(obs), 1),
        "act: lean.act, eager": (lambda: lean.act(obs), 1),
        "values of the final observations (lean.predict_values, eager)": (
            lambda: lean.predict_values(envs.final_obs),
            1,
        ),
        f"rollout step (collect_rollouts over its {n_steps} steps)": (
            lambda: model.collect_rollouts(view, callback, model.rollout_buffer, n_steps),
            n_steps,
        ),
    }
    costs = {}
    with th.no_grad():
        for name, (function, steps) in parts.items():
            returned, done = _per_call(function, max(1, calls // steps), sync)
            costs[name] = (returned / steps, done / steps)
    if model.rollout_path != "device":
        raise AssertionError(f"the rollout did not run on the device: {model.rollout_path}")
    return costs


def pong_self_play_table(device: str, games: list[int], updates: int) -> None:
    """Issue 18: parameter-sharing self-play of Pong (one policy in both seats, rows
    ``g * 2 + a``) with the game on the device against the CPU game feeding the same device."""
    from thrust_envs.registration import game_lookup
    from thrust_envs.sb3 import make_shared_vec_env

    print(
        "\n### Pong, the game on the device against the CPU game: self-play (parameter "
        "sharing) and vs a device policy\n"
        f"\n{describe(DEVICE_PPO)}, {updates} updates after one of warm-up.\n"
    )
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    # A device policy as the vs-opponent rows' opponent: a linear layer's argmax.
    opponent_net = th.nn.Linear(8, 3).to(device)  # Pong: 8 features, 3 actions

    def opponent(obs: th.Tensor) -> th.Tensor:
        with th.no_grad():
            return opponent_net(obs).argmax(1)

    print(
        "| games (rows) | game on | rollout path | agent-steps/s | vs CPU | rollout s | update s |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: |")
    for num_games in games:
        sides: list[tuple[str, Callable[[int], Any]]] = [
            ("CPU, self-play", lambda n: make_shared_vec_env(game_lookup("Thrust/Pong-v0"), n, 0)),
            ("device, self-play", lambda n: make_vec("Thrust/Pong-v0", n, device=device)),
            ("device, vs a device policy",
             lambda n: make_vec("Thrust/Pong-v0", n, device=device).vs_opponent(opponent)),
        ]  # fmt: skip
        cpu = None
        for side, make_envs in sides:  # the CPU game first: the anchor of the device's ratios
            with one_row(f"{num_games} | {side}"):
                envs = make_envs(num_games)
                model, speed, times = _timed_learn(envs, device, updates)
                cpu = speed if side.startswith("CPU") else cpu
                print(
                    f"| {num_games} ({envs.num_envs}) | {side} | {model.rollout_path} | "
                    f"{speed:,.0f} | {'-' if side.startswith('CPU') else ratio(speed, cpu)} | "
                    f"{times['rollout']:.3f} | {times['update']:.3f} |"
                )


def device_solve_table(device: str, seeds: list[int], total_timesteps: int) -> None:
    """Issue 18: time to solve CartPole with the env on the device, by ``benchmarks/ppo.py``'s
    protocol (20 deterministic episodes of gymnasium's CartPole-v1 outside the clock, solved at
    a mean of 475), evaluated after each rollout. The clock holds the timed model's own warm-up
    (its first launches, its update's graph capture); compiling or loading the kernels and
    CUDA's lazy start happen in a first model's learn, timed apart (issue 18: "compile excluded
    and reported separately")."""
    import thrust_algos

    setting = DEVICE_SOLVE
    print(
        "\n### Time to solve CartPole-v1 with the env on the device\n\n"
        f"{describe(setting)}; evaluated after each rollout.\n"
    )
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    sync = _sync(device)
    hyperparameters = {k: v for k, v in setting.items() if k != "n_envs"}
    print("| seed | solved | env-steps | seconds | env-steps/s | last eval | warm-up s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    times = []
    for seed in seeds:
        envs = make_vec("Thrust/CartPole-v1", setting["n_envs"], device=device,
                        autoreset_mode="SameStep")  # fmt: skip
        sync()
        warm_start = time.perf_counter()
        warm = thrust_algos.PPO("MlpPolicy", envs, seed=seed, device=device, **hyperparameters)
        warm.learn(setting["n_envs"] * setting["n_steps"])  # kernels and graph capture
        sync()
        warm_seconds = time.perf_counter() - warm_start
        model = thrust_algos.PPO("MlpPolicy", envs, seed=seed, device=device, **hyperparameters)
        eval_env = sb3_make_vec_env("CartPole-v1", n_envs=EVAL_EPISODES, seed=10_000 + seed)
        timer = SolveTimer(eval_env, per_rollout=True)
        sync()
        start = time.perf_counter()
        model.learn(total_timesteps, callback=timer)
        sync()
        end = time.perf_counter() if timer.solved_at_time is None else timer.solved_at_time
        seconds = end - start - timer.eval_seconds
        steps = timer.solved_at_step or model.num_timesteps
        if timer.solved_at_step is not None:
            times.append(seconds)
        print(
            f"| {seed} | {timer.solved_at_step is not None} | {steps:,} | {seconds:.2f} | "
            f"{steps / seconds:,.0f} | {timer.last_mean:.1f} | {warm_seconds:.2f} |"
        )
    if times:
        print(f"\nMedian time to solve over the solved seeds: {float(np.median(times)):.2f} s")
    print(
        "Warm-up s: one rollout and update of a first model (the first seed's includes compiling "
        "the kernels, later ones load them), outside the solve clock; the timed model's own "
        "graph capture and first steps are inside it."
    )


def _fill(out):  # pragma: no cover - a kernel's body; _fill_kernel binds ``cuda``
    i = cuda.grid(1)  # noqa: F821
    if i < out.shape[0]:
        out[i] = i * 2.0


@functools.cache
def _fill_kernel() -> Any:
    """``_fill`` as a numba-cuda kernel of one array argument, ``out[i] = 2 i``: the probe's
    interop check and the bare launch of the device-step-costs table. Bound as the env
    templates are (``cuda`` a global of the kernel, which the simulator can swap)."""
    from numba import cuda

    import thrust_envs.cuda  # noqa: F401 (its numpy compatibility, before the first compile)
    from thrust_envs.core.kernels import rebind

    return cuda.jit(rebind(_fill, "gpu_check_fill", {"cuda": cuda}))


def probe_table(device: str) -> None:
    """What the machine runs: versions, and one numba-cuda kernel writing a torch tensor (the
    device envs' interop: ``__cuda_array_interface__`` and torch's stream)."""
    import importlib.metadata

    print("\n### Machine\n")
    print("| package | version |")
    print("| --- | --- |")
    for name in ("torch", "triton", "numba", "numba-cuda", "llvmlite", "numpy", "gymnasium",
                 "stable-baselines3", "pettingzoo"):  # fmt: skip
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        print(f"| {name} | {version} |")
    if device != "cuda":
        return
    props = th.cuda.get_device_properties(0)
    print(
        f"\n{props.name}: {props.multi_processor_count} multiprocessors, "
        f"{props.total_memory / 2**30:.0f} GiB, CUDA {th.version.cuda}, "
        f"compute capability {props.major}.{props.minor}"
    )
    from numba import cuda

    out = th.full((1000,), float("nan"), device=device)
    stream = cuda.external_stream(th.cuda.current_stream().cuda_stream)
    _fill_kernel()[4, 256, stream](cuda.as_cuda_array(out))
    th.cuda.synchronize()
    ok = th.equal(out, th.arange(1000, device=device, dtype=th.float32) * 2)
    print(f"numba-cuda kernel on torch's stream wrote a torch tensor correctly: {ok}")
    if not ok:
        raise AssertionError("numba-cuda and torch disagree on a tensor's memory")


# The hardware contract of issue 18 (ARCHITECTURE.md, "The hardware contract"): on a GPU one
# step from the same arrays differs from the CPU kernel's by at most one rounding of the stored
# precision (NVVM's fused multiply-adds, CUDA's sin/cos/pow), and random streams, counters and
# flags are exact. Relative to max(|cpu|, |gpu|, 1). Float64 states measured within 1.1e-15 on
# an H200; but an env that follows Gymnasium's float32 arithmetic keeps float32-valued states
# (MountainCarContinuous), where a last-bit difference can flip one float32 rounding (6e-8
# measured): the state bound is one float32 ulp at 1, 2**-23, the observations' a few.
STATE_BOUND = 2.0**-23
OBS_BOUND = 1e-6
BUCKETS = {"state": "state", "episode": "episode", "agent_return": "episode",
           "final_return": "episode"}  # fmt: skip
AGREEMENT_ENVS = (
    "Thrust/CartPole-v1",
    "Thrust/MountainCar-v0",
    "Thrust/MountainCarContinuous-v0",
    "Thrust/Pendulum-v1",
    "Thrust/Acrobot-v1",
)
AGREEMENT_GAMES = ("Thrust/Pong-v0", "Thrust/Snake-v0", "Thrust/BucketBrigade-v0")


def _scaled_difference(cpu: np.ndarray, gpu: np.ndarray) -> float:
    """max |cpu - gpu| / max(|cpu|, |gpu|, 1) over the finite elements (0.0 if equal)."""
    cpu, gpu = cpu.astype(np.float64), gpu.astype(np.float64)
    scale = np.maximum(np.maximum(np.abs(cpu), np.abs(gpu)), 1.0)
    both = np.isfinite(cpu) & np.isfinite(gpu)
    diff = np.where(both, np.abs(cpu - gpu) / np.where(both, scale, 1.0), 0.0)
    return float(diff.max(initial=0.0))


class _Agreement:
    """The kernels of one env or game on the device against its CPU batch, from the same arrays.

    :meth:`compare` after each step: with ``resync`` the CPU's arrays are then copied to the
    device, so that every step starts from identical inputs (the one-step error); without,
    both run free and a row whose exact arrays (random stream, counters, flags) once differ is
    set aside (diverged) from then on. ``exact`` (the simulator): any difference raises."""

    def __init__(self, cpu: Any, fields: tuple[str, ...]) -> None:
        from numba import cuda

        self.cpu, self.fields = cpu, fields
        self.dev = {name: cuda.to_device(np.ascontiguousarray(getattr(cpu, name)))
                    for name in fields}  # fmt: skip
        # Float arrays by the bound that applies: the float64 state, the float64 episode sums,
        # and what the agents see (observations, rewards: float32 scale).
        self.float_fields = {
            name: BUCKETS.get(name, "obs")
            for name in fields
            if getattr(cpu, name).dtype.kind == "f"
        }
        self.rows = getattr(cpu, fields[0]).shape[0]
        self.diverged = np.zeros(self.rows, dtype=bool)
        self.worst = {"state": 0.0, "obs": 0.0, "episode": 0.0}
        self.identical = self.compared = self.compared_rows = 0
        self.first_divergence: int | None = None

    def compare(self, step: int, resync: bool, exact: bool) -> None:
        host = {name: self.dev[name].copy_to_host() for name in self.fields}
        # A row agrees while every exact array (random stream, counters, flags) is equal: a
        # float difference that flips a threshold shows here, as a row set aside.
        rows = np.ones(self.rows, dtype=bool)
        for name in self.fields:
            if name not in self.float_fields:
                same = getattr(self.cpu, name) == host[name]
                rows &= same.reshape(self.rows, -1).all(axis=1)
        if not resync:
            rows &= ~self.diverged
        if exact and not rows.all():
            raise AssertionError(f"step {step}: exact arrays differ in the simulator")
        newly = ~rows & ~self.diverged
        if newly.any() and self.first_divergence is None:
            self.first_divergence = step
        self.diverged |= newly
        for name, bucket in self.float_fields.items():
            cpu_value, gpu_value = getattr(self.cpu, name)[rows], host[name][rows]
            self.worst[bucket] = max(self.worst[bucket], _scaled_difference(cpu_value, gpu_value))
            if exact and not np.array_equal(cpu_value, gpu_value, equal_nan=True):
                raise AssertionError(f"step {step}: {name} differs in the simulator")
        self.identical += int(
            (self.cpu.obs[rows] == host["obs"][rows]).reshape(int(rows.sum()), -1)
            .all(axis=1).sum()
        )  # fmt: skip
        self.compared += int(rows.sum())
        self.compared_rows += self.rows
        if resync:
            for name in self.fields:
                self.dev[name].copy_to_device(np.ascontiguousarray(getattr(self.cpu, name)))


def _env_agreement(env_id: str, rows: int, steps: int, resync: bool, exact: bool) -> _Agreement:
    from thrust_envs.core import kernels as K
    from thrust_envs.core.batch import BatchEnv
    from thrust_envs.cuda import targets as T
    from thrust_envs.registration import lookup

    definition, spec = lookup(env_id)
    max_steps = spec.max_episode_steps
    cpu = BatchEnv(definition, env_id, rows, definition.default_params, max_steps, K.NEXT_STEP,
                   1, np.float32)  # fmt: skip
    cpu.seed(np.arange(rows, dtype=np.uint64))
    cpu.reset()
    discrete = hasattr(cpu.action_space, "n")
    kernels = T.env_kernels(definition, "discrete" if discrete else "box")
    check = _Agreement(cpu, K.RowArrays._fields)
    from numba import cuda

    error_action = cuda.to_device(np.zeros(1 if discrete else cpu.action_space.shape[0],
                                           cpu.actions.dtype))  # fmt: skip
    totals = cuda.to_device(np.zeros((rows, 3)))
    low, high = cuda.to_device(cpu._action_low), cuda.to_device(cpu._action_high)
    space, rng = cpu.action_space, np.random.default_rng(0)
    for step in range(steps):
        if discrete:
            actions = rng.integers(space.start, space.start + space.n, rows).astype(np.int64)
        else:
            actions = rng.uniform(space.low, space.high, (rows, *space.shape)).astype(space.dtype)
        status = cuda.to_device(np.array([rows, rows, 0], dtype=np.int64))
        dev_actions = cuda.to_device(actions)
        T.launch(kernels.validate, rows, 0, dev_actions, low, high, K.NEXT_STEP,
                 check.dev["episode"], status)  # fmt: skip
        T.launch(kernels.step, rows, 0, *check.dev.values(), dev_actions, cpu.params, K.NEXT_STEP,
                 cpu._max_steps, status, error_action, totals)  # fmt: skip
        cpu.step(cpu.load_actions(actions))
        if tuple(status.copy_to_host()[:2]) != (rows, rows):
            raise AssertionError(f"{env_id} step {step}: the device refused valid actions")
        check.compare(step, resync, exact)
    return check


def _game_agreement(game_id: str, games: int, steps: int, resync: bool, exact: bool):
    from numba import cuda

    from thrust_envs.core.games import BatchGame, GameArrays
    from thrust_envs.cuda import targets as T
    from thrust_envs.registration import game_lookup

    definition = game_lookup(game_id)
    cpu = BatchGame(definition, games, definition.params_type(), autoreset=True, num_threads=1)
    cpu.seed(0)
    cpu.reset()
    kernels = T.game_kernels(definition)
    check = _Agreement(cpu, GameArrays._fields)
    agents, rng = cpu.num_agents, np.random.default_rng(0)
    error_action = cuda.to_device(np.zeros(len(cpu.nvec), np.int64))
    totals = cuda.to_device(np.zeros((games, 2 + agents)))
    nvec = cuda.to_device(cpu.nvec)
    for step in range(steps):
        actions = rng.integers(0, cpu.nvec, (games, agents, len(cpu.nvec)))
        status = cuda.to_device(np.array([games * agents, games, 0], dtype=np.int64))
        dev_actions = cuda.to_device(actions)
        T.launch(kernels.validate, games, 0, dev_actions, check.dev["alive"], nvec, status)
        T.launch(kernels.step, games, 0, *check.dev.values(), dev_actions, cpu.params, True,
                 cpu.max_steps, status, error_action, totals)  # fmt: skip
        cpu.actions[...] = actions
        cpu.step()
        if int(status.copy_to_host()[0]) != games * agents:
            raise AssertionError(f"{game_id} step {step}: the device refused valid actions")
        check.compare(step, resync, exact)
    return check


def agreement_table(device: str, rows: int, steps: int) -> None:
    """Issue 18's hardware contract, measured: every env's and game's device kernels against the
    CPU kernels, one step at a time from identical arrays (the one-step error, bounded by
    :data:`STATE_BOUND` / :data:`OBS_BOUND`; random streams, counters and flags exact), and
    running free (how long trajectories stay together). Under the simulator everything must be
    equal; a violated bound fails the table."""
    print(
        f"\n### The device kernels against the CPU kernels ({rows} rows; one step: "
        f"{max(steps // 3, 1)} steps, free: {steps} steps)\n"
    )
    if device != "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        print("Skipped: this compares the CUDA kernels with the CPU's; it runs on CUDA or "
              "under NUMBA_ENABLE_CUDASIM=1.")  # fmt: skip
        return
    try:
        import thrust_envs.cuda  # noqa: F401
    except ImportError as error:
        print(f"Skipped: thrust_envs.cuda is not importable ({error}).")
        return
    exact = device != "cuda"  # the simulator runs the kernels as Python: bit for bit
    print(
        "One step: each step from the CPU's arrays; float differences relative to max(|x|, 1) "
        "on rows whose exact arrays (stream, counters, flags) agree; 'flipped': rows where they "
        "did not. Free: both run on; a row whose exact arrays once differ is set aside "
        "(diverged).\n"
    )
    print(
        "| env or game | one step: state | obs | episode sums | row-steps flipped "
        "| free: obs identical (row-steps) | free: obs max | rows diverged | first at step |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")  # fmt: skip
    violations = []
    for name in AGREEMENT_ENVS + AGREEMENT_GAMES:
        run = _env_agreement if name in AGREEMENT_ENVS else _game_agreement
        one = run(name, rows, max(steps // 3, 1), True, exact)
        free = run(name, rows, steps, False, exact)
        flipped = one.compared_rows - one.compared
        first = "-" if free.first_divergence is None else free.first_divergence
        print(
            f"| {name} | {one.worst['state']:.1e} | {one.worst['obs']:.1e} | "
            f"{one.worst['episode']:.1e} | {flipped} | "
            f"{free.identical / max(free.compared, 1):.4%} | {free.worst['obs']:.1e} | "
            f"{int(free.diverged.sum())} | {first} |"
        )
        worst = one.worst
        if worst["state"] > STATE_BOUND or max(worst["obs"], worst["episode"]) > OBS_BOUND:
            violations.append(name)
    if violations:
        raise AssertionError(f"one-step differences beyond the stated bounds: {violations}")
    print(f"\nEvery one-step difference within the bounds (state {STATE_BOUND:.3g}, "
          f"obs {OBS_BOUND:g}); streams, counters and flags of agreeing rows exact.")  # fmt: skip


def gpu_only(on_gpu: bool, table: Callable[[], None]) -> Callable[[], None]:
    """``table``, or on the CPU a line saying it was skipped."""

    def skipped() -> None:
        print("\nA GPU-only table skipped (the CPU's: benchmarks/ppo.py and benchmarks/gae.py).")

    return table if on_gpu else skipped


# Each table, by the name ``--only`` takes, in the order a run prints them: the issues' targets
# first, so that a run cut short by the lease still measured them.
TABLE_NAMES = (
    "probe",
    "gae",
    "gae-shapes",
    "ppo",
    "device-envs",
    "device-ppo",
    "device-solve",
    "pong",
    "device-step-costs",
    "agreement",
    "rollout",
    "solve",
)


def main(argv: list[str] | None = None) -> int:
    import warnings

    # Not actionable here (a grid of num_envs threads), and it buried the tables on the H200.
    warnings.filterwarnings("ignore", message="Grid size .* will likely result in GPU under")
    # SB3's note that MlpPolicy on a GPU is slow: the point of the comparison.
    warnings.filterwarnings("ignore", message="You are trying to run PPO on the GPU")
    parser = make_parser(__doc__)
    parser.add_argument(
        "--device", choices=["cuda", "cpu"], default=None, help="default: cuda if any"
    )
    parser.add_argument(
        "--only",
        default=",".join(TABLE_NAMES),
        help=f"comma-separated tables to run, of {list(TABLE_NAMES)} (default: all)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="start no table after this many seconds of the run (gpu_check.sh: its timeout "
        "less a margin), so that the summary still prints; default: none",
    )
    args = parser.parse_args(argv)
    if args.deadline is not None and not args.deadline > 0:
        parser.error(f"--deadline takes a positive number of seconds, got {args.deadline}")
    only = [name for name in args.only.split(",") if name]
    if not only or set(only) - set(TABLE_NAMES):
        parser.error(f"--only takes tables of {list(TABLE_NAMES)}, got {args.only!r}")
    cuda = th.cuda.is_available()
    device = args.device or ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        parser.error("--device cuda: no CUDA device on this machine")
    name = th.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        header(
            "Device check (issue 14)", __file__, argv, f"device: {name}", f"torch {th.__version__}"
        )
    )
    if not cuda:
        print("CUDA was absent: CPU tables at small sizes follow (no GPU figure is measured).")
    on_gpu = device == "cuda"
    quick = args.quick or not on_gpu
    min_time = 0.05 if args.quick else 0.5
    sizes = GPU_PPO_ENVS if on_gpu else CPU_PPO_ENVS
    device_sizes = DEVICE_PPO_ENVS if on_gpu else CPU_DEVICE_ENVS
    tables: dict[str, Callable[[], None]] = {
        "probe": lambda: probe_table(device),
        "agreement": lambda: agreement_table(device, 4096 if on_gpu else 4, 120 if on_gpu else 20),
        "gae": lambda: gae_table(GPU_SIZES if on_gpu else CPU_GAE_SIZES, device, min_time),
        "gae-shapes": gpu_only(
            on_gpu, lambda: triton_variants_table([(128, 65_536), (128, 4096)], min_time)
        ),
        "ppo": lambda: [
            ppo_gpu_table(n_envs, updates=1 if quick else 3, device=device) for n_envs in sizes
        ],
        "device-envs": lambda: device_env_table(
            device, DEVICE_ENV_SIZES if on_gpu else CPU_DEVICE_ENVS, 10 if args.quick else 100
        ),
        "device-ppo": lambda: device_ppo_table(device, device_sizes, 1 if quick else 5),
        "device-solve": gpu_only(
            on_gpu, lambda: device_solve_table(device, [0] if args.quick else [0, 1, 2], 5_000_000)
        ),
        "device-step-costs": lambda: device_step_costs_table(
            device, [4096, 65_536] if on_gpu else CPU_DEVICE_ENVS, 200 if on_gpu else 3
        ),
        "rollout": lambda: rollout_table(device, sizes, 2 if args.quick else 10),
        "pong": lambda: pong_self_play_table(
            device, PONG_GAMES if on_gpu else CPU_DEVICE_ENVS, 1 if quick else 3
        ),
        # Issue 14's time to solve with the policy on the GPU and the env on the host, by the
        # CPU table's protocol (benchmarks/ppo.py), thrust's setting: thrust against stock.
        "solve": gpu_only(
            on_gpu,
            lambda: solve_tables(
                ["thrust"], ["thrust", "stock"], [0] if args.quick else [0, 1, 2], 100_000, device
            ),
        ),
    }
    results: dict[str, tuple[float, str]] = {}
    run_start = time.perf_counter()
    for table in (name for name in TABLE_NAMES if name in only):
        if args.deadline is not None and time.perf_counter() - run_start > args.deadline:
            results[table] = (0.0, "skipped: past --deadline")
            continue
        start = time.perf_counter()
        FAILED_ROWS.clear()
        try:
            tables[table]()
            result = f"FAILED: {len(FAILED_ROWS)} rows" if FAILED_ROWS else "ok"
        except Exception:  # one broken table must not hide the others' figures
            traceback.print_exc(file=sys.stdout)
            print(f"\nTable {table!r} FAILED (traceback above).", flush=True)
            result = "FAILED"
        results[table] = (time.perf_counter() - start, result)
    print("\n### Tables run\n\n| table | seconds | result |\n| --- | ---: | --- |")
    for table, (spent, result) in results.items():
        print(f"| {table} | {spent:.1f} | {result} |")
    return 1 if any(result != "ok" for _, result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
