"""The prepared device check (issue 14): every GPU table of the project in one run.

On a CUDA machine (a lent H100/H200: run ``bash benchmarks/gpu_check.sh``, which installs the
carried wheels first) it prints, in well under 8 minutes:

1. GAE: the ``"triton"`` kernel, the ``"torch"`` loop on the device and SB3's numpy loop on the
   host, against the memory floor (the recursion's bytes over the device's measured copy
   bandwidth), at (128, 4096), (128, 65536) and (2048, 1); each device result is compared
   bit for bit with SB3's before it is timed.
2. End-to-end PPO env-steps/s on Thrust/CartPole-v1 at 1024, 4096 and 16384 envs, thrust
   against stock SB3 on the same device (``benchmarks/ppo.py``'s ``gpu_table``).
3. The rollout alone (``collect_rollouts``) of ``thrust_algos.PPO`` on a Thrust VecEnv through
   the staged step (``thrust_algos.device_rollout``: pinned staging buffers, non-blocking
   uploads, the masked bootstrap, the lean act in a CUDA graph), at the same sizes, saying which
   path ran and whether the act was graphed, and checking that the last staged observations are
   the env's.
4. The device envs of issue 18 (``thrust_envs.cuda.make_vec(env_id, num_envs,
   device="cuda")``): env-steps/s at 4096, 65,536 and 1M envs.
5. ``thrust_algos.PPO`` end to end on a device env (the rollout never leaves the device,
   ``rollout_path == "device"``): env-steps/s at 4096 and 65,536 envs, with the seconds spent
   in rollouts and in updates, and the host synchronisations of one rollout (torch's sync
   debug mode).
6. Pong self-play by parameter sharing (``thrust_envs.cuda.make_vec("Thrust/Pong-v0", G)``,
   rows ``g * 2 + a``), agent-steps/s with the game on the device against the CPU game
   (``SharedGameVecEnv``) feeding the same device, and the learner against a device policy
   (``.vs_opponent(opponent)``), at 1024 and 16,384 games.
7. The time to solve CartPole with the env on the device (3 seeds, ``benchmarks/ppo.py``'s
   protocol, evaluated after each rollout, warm-up excluded).

Tables 4 to 7 are skipped (saying so) where ``thrust_envs.cuda`` is not importable.

Without CUDA it says that CUDA was absent and prints the same tables on the CPU at small
sizes: that run is CI's smoke test of this script (``tests/test_benchmarks_smoke.py``); under
``NUMBA_ENABLE_CUDASIM=1`` tables 4 to 6 run on CPU tensors in the simulator (tiny sizes).

Usage::

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from common import header, make_parser
from gae import GPU_SIZES
from gae import gpu_table as gae_table
from ppo import EVAL_EPISODES, SolveTimer, _timed, describe
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
# Solving with large batches: chosen on the CPU (the same dynamics, the fused rollout), where
# it solved in about 10 updates (1.3M env-steps).
DEVICE_SOLVE: dict[str, Any] = {
    "n_envs": 4096,
    "n_steps": 32,
    "batch_size": 8192,
    "n_epochs": 4,
    "learning_rate": 5e-3,
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


def device_env_table(device: str, sizes: list[int], steps: int) -> None:
    """Issue 18's device envs, written against ``thrust_envs.cuda.make_vec``."""
    print("\n### Device envs (thrust_envs.cuda), Thrust/CartPole-v1, random actions\n")
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    sync = _sync(device)
    print("| envs | env-steps/s |")
    print("| ---: | ---: |")
    for num_envs in sizes:
        envs = make_vec("Thrust/CartPole-v1", num_envs, device=device)
        envs.reset(seed=0)
        actions = th.zeros(num_envs, dtype=th.int64, device=device)
        envs.step(actions)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            envs.step(actions)
        sync()
        print(f"| {num_envs} | {steps * num_envs / (time.perf_counter() - start):,.0f} |")


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


def _timed_learn(envs: Any, device: str, updates: int) -> tuple[Any, float, dict[str, float]]:
    """``thrust_algos.PPO`` with :data:`DEVICE_PPO` on ``envs``: one update of warm-up (kernels,
    graph capture), then ``updates`` timed; the model, env-steps/s and the seconds spent in
    rollouts and in updates."""
    import thrust_algos

    sync = _sync(device)
    rollout = DEVICE_PPO["n_steps"] * envs.num_envs
    hyperparameters = {**DEVICE_PPO, "batch_size": min(DEVICE_PPO["batch_size"], rollout)}
    model = thrust_algos.PPO("MlpPolicy", envs, seed=0, device=device, **hyperparameters)
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
        f"Thrust/CartPole-v1\n\n{describe(DEVICE_PPO)}, {updates} updates after one of warm-up.\n"
    )
    make_vec = _device_make_vec(device)
    if make_vec is None:
        return
    print("| envs | rollout path | env-steps/s | rollout s | update s | host syncs a rollout |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for num_envs in sizes:
        envs = make_vec("Thrust/CartPole-v1", num_envs, device=device, autoreset_mode="SameStep")
        model, speed, times = _timed_learn(envs, device, updates)
        print(
            f"| {num_envs} | {model.rollout_path} | {speed:,.0f} | "
            f"{times['rollout']:.3f} | {times['update']:.3f} | {_rollout_syncs(model)} |"
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

    print("| games (rows) | game on | rollout path | agent-steps/s | rollout s | update s |")
    print("| ---: | --- | --- | ---: | ---: | ---: |")
    for num_games in games:
        sides: list[tuple[str, Any]] = [
            ("device, self-play", make_vec("Thrust/Pong-v0", num_games, device=device)),
            ("CPU, self-play", make_shared_vec_env(game_lookup("Thrust/Pong-v0"), num_games, 0)),
            ("device, vs a device policy",
             make_vec("Thrust/Pong-v0", num_games, device=device).vs_opponent(opponent)),
        ]  # fmt: skip
        for side, envs in sides:
            model, speed, times = _timed_learn(envs, device, updates)
            print(
                f"| {num_games} ({envs.num_envs}) | {side} | {model.rollout_path} | "
                f"{speed:,.0f} | {times['rollout']:.3f} | {times['update']:.3f} |"
            )


def device_solve_table(device: str, seeds: list[int], total_timesteps: int) -> None:
    """Issue 18: time to solve CartPole with the env on the device, by ``benchmarks/ppo.py``'s
    protocol (20 deterministic episodes of gymnasium's CartPole-v1 outside the clock, solved at
    a mean of 475), evaluated after each rollout; warm-up (a first learn) excluded."""
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
    print("| seed | solved | env-steps | seconds | env-steps/s | last eval |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    times = []
    for seed in seeds:
        envs = make_vec("Thrust/CartPole-v1", setting["n_envs"], device=device,
                        autoreset_mode="SameStep")  # fmt: skip
        warm = thrust_algos.PPO("MlpPolicy", envs, seed=seed, device=device, **hyperparameters)
        warm.learn(setting["n_envs"] * setting["n_steps"])  # kernels and graph capture
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
            f"{steps / seconds:,.0f} | {timer.last_mean:.1f} |"
        )
    if times:
        print(f"\nMedian time to solve over the solved seeds: {float(np.median(times)):.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument(
        "--device", choices=["cuda", "cpu"], default=None, help="default: cuda if any"
    )
    args = parser.parse_args(argv)
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
    min_time = 0.05 if args.quick else 0.5
    gae_table(GPU_SIZES if on_gpu else CPU_GAE_SIZES, device, min_time)
    for n_envs in GPU_PPO_ENVS if on_gpu else CPU_PPO_ENVS:
        ppo_gpu_table(n_envs, updates=2 if args.quick or not on_gpu else 10, device=device)
    rollout_table(device, GPU_PPO_ENVS if on_gpu else CPU_PPO_ENVS, 2 if args.quick else 10)
    env_sizes = DEVICE_ENV_SIZES if on_gpu else CPU_DEVICE_ENVS
    device_env_table(device, env_sizes, 10 if args.quick else 100)
    sizes = DEVICE_PPO_ENVS if on_gpu else CPU_DEVICE_ENVS
    device_ppo_table(device, sizes, 1 if args.quick or not on_gpu else 5)
    pong_self_play_table(
        device, PONG_GAMES if on_gpu else CPU_DEVICE_ENVS, 1 if args.quick or not on_gpu else 3
    )
    if on_gpu:
        device_solve_table(device, [0, 1, 2] if not args.quick else [0], 20_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
