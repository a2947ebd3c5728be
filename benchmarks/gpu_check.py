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
4. The device envs of issue 18, if ``thrust_envs.cuda`` exists (``make_vec(env_id, num_envs,
   device="cuda")``): env-steps/s at the same sizes. Skipped, saying so, otherwise.

Without CUDA it says that CUDA was absent and prints the same tables on the CPU at small
sizes: that run is CI's smoke test of this script (``tests/test_benchmarks_smoke.py``). Not yet
here: the time to solve CartPole on the device and the rollout/update breakdown there need
``benchmarks/ppo.py``'s ``time_to_solve`` and ``breakdown_table`` to take a ``device``.

Usage::

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch as th
from common import header, make_parser
from gae import GPU_SIZES
from gae import gpu_table as gae_table
from ppo import gpu_table as ppo_gpu_table

CPU_GAE_SIZES = [(16, 64), (64, 1)]
GPU_PPO_ENVS = [1024, 4096, 16_384]
CPU_PPO_ENVS = [16]
DEVICE_ENV_SIZES = [4096, 65_536, 1 << 20]  # issue 18's targets are at 65,536 and 1M envs


def device_env_table(device: str, sizes: list[int], steps: int) -> None:
    """Issue 18's device envs, written against ``thrust_envs.cuda.make_vec``."""
    print("\n### Device envs (thrust_envs.cuda), Thrust/CartPole-v1, random actions\n")
    try:
        from thrust_envs.cuda import make_vec
    except ImportError as error:
        print(f"Skipped: thrust_envs.cuda is not importable ({error}).")
        return
    if device != "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        print("Skipped: device envs run on CUDA (tests/test_cuda_*.py check them on the CPU).")
        return
    sync = th.cuda.synchronize if device == "cuda" else (lambda: None)
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
    device_env_table(device, DEVICE_ENV_SIZES, 10 if args.quick else 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
