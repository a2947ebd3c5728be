"""The prepared device check (issue 14): every GPU table of the project in one run.

On a CUDA machine (a lent H100/H200: run ``bash benchmarks/gpu_check.sh``, which installs the
carried wheels first) it prints, in well under 8 minutes:

1. GAE: the ``"triton"`` kernel, the ``"torch"`` loop on the device and SB3's numpy loop on the
   host, against the memory floor (the recursion's bytes over the device's measured copy
   bandwidth), at (128, 4096), (128, 65536) and (2048, 1); each device result is compared
   bit for bit with SB3's before it is timed.
2. End-to-end PPO env-steps/s on Thrust/CartPole-v1 at 1024, 4096 and 16384 envs, thrust
   against stock SB3 on the same device (``benchmarks/ppo.py``'s ``gpu_table``).
3. The device envs of issue 18, if ``thrust_envs.cuda`` exists (``make_vec(env_id, num_envs,
   device="cuda")``): env-steps/s at the same sizes. Skipped, saying so, otherwise.

Without CUDA it says that CUDA was absent and prints the same tables on the CPU at small
sizes: that run is CI's smoke test of this script (``tests/test_benchmarks_smoke.py``). Not yet
here: the time to solve CartPole on the device and the rollout/update breakdown there need
``benchmarks/ppo.py``'s ``time_to_solve`` and ``breakdown_table`` to take a ``device``.

Usage::

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch as th

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gae import GAE_LAMBDA, GAMMA, median_seconds, sb3_buffer
from ppo import gpu_table as ppo_gpu_table

from thrust_algos import compute_gae

GPU_GAE_SIZES = [(128, 4096), (128, 65_536), (2048, 1)]
CPU_GAE_SIZES = [(16, 64), (64, 1)]
GPU_PPO_ENVS = [1024, 4096, 16_384]
CPU_PPO_ENVS = [16]


def device_tensors(buffer, last_values: th.Tensor, dones: np.ndarray, device: str) -> dict:
    return {
        "rewards": th.from_numpy(buffer.rewards).to(device),
        "values": th.from_numpy(buffer.values).to(device),
        "episode_starts": th.from_numpy(buffer.episode_starts).to(device),
        "last_values": last_values.to(device),
        "dones": th.from_numpy(dones).to(device).float(),
    }


def copy_bandwidth(device: str, n_floats: int) -> float:
    """Bytes per second of a device-to-device copy (read and written bytes counted)."""
    sync = th.cuda.synchronize if device == "cuda" else (lambda: None)
    src = th.empty(n_floats, dtype=th.float32, device=device)
    dst = th.empty_like(src)
    return 2 * n_floats * 4 / median_seconds(lambda: dst.copy_(src), sync=sync)


def gae_table(device: str, sizes: list[tuple[int, int]], min_time: float) -> None:
    sync = th.cuda.synchronize if device == "cuda" else (lambda: None)
    backends = ["triton", "torch"] if device == "cuda" else ["numba", "torch"]
    bandwidth = copy_bandwidth(device, 2**28 if device == "cuda" else 2**20)
    print(f"\n### GAE on {device}; copy bandwidth {bandwidth / 1e9:.1f} GB/s\n")
    print("| n_steps x n_envs | " + " | ".join(backends) + " | SB3 (host) | floor | best/floor |")
    print("| --- |" + " ---: |" * (len(backends) + 3))
    for n_steps, n_envs in sizes:
        buffer = sb3_buffer(n_steps, n_envs)
        last_values = th.randn(n_envs, 1, generator=th.Generator().manual_seed(1))
        dones = np.random.default_rng(1).random(n_envs) < 0.1
        buffer.compute_returns_and_advantage(last_values, dones)
        tensors = device_tensors(buffer, last_values, dones, device)
        out = tuple(th.empty(n_steps, n_envs, device=device) for _ in range(2))
        times = []
        for backend in backends:

            def run(backend=backend, tensors=tensors, out=out):
                return compute_gae(
                    **tensors, gamma=GAMMA, gae_lambda=GAE_LAMBDA, backend=backend, out=out
                )

            advantages, returns = run()
            # Bit for bit with SB3, computed on the device.
            if not (
                np.array_equal(advantages.cpu().numpy(), buffer.advantages)
                and np.array_equal(returns.cpu().numpy(), buffer.returns)
            ):
                raise SystemExit(
                    f"GAE {backend} on {device} differs from SB3 at {n_steps}x{n_envs}"
                )
            times.append(median_seconds(run, min_time=min_time, sync=sync))

        def sb3(buffer=buffer, last_values=last_values, dones=dones):
            buffer.compute_returns_and_advantage(last_values, dones)

        t_sb3 = median_seconds(sb3, min_time=min_time)
        floor = (n_steps * n_envs * 5 + n_envs * 2) * 4 / bandwidth
        cells = " | ".join(f"{t * 1e6:.1f} us" for t in times)
        print(
            f"| {n_steps} x {n_envs} | {cells} | {t_sb3 * 1e6:.1f} us | {floor * 1e6:.1f} us | "
            f"{min(times) / floor:.1f}x |"
        )
    print("\nEvery backend's advantages and returns were bit-equal to SB3's.")


def device_env_table(device: str, sizes: list[int], steps: int) -> None:
    """Issue 18's device envs, written against ``thrust_envs.cuda.make_vec``."""
    print("\n### Device envs (thrust_envs.cuda), Thrust/CartPole-v1, random actions\n")
    try:
        from thrust_envs.cuda import make_vec
    except ImportError as error:
        print(f"Skipped: thrust_envs.cuda is not importable ({error}).")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None)
    parser.add_argument("--quick", action="store_true", help="short timings (smoke test)")
    args = parser.parse_args(argv)
    cuda = th.cuda.is_available()
    device = args.device or ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        parser.error("--device cuda: no CUDA device on this machine")
    name = th.cuda.get_device_name() if device == "cuda" else platform.processor() or "CPU"
    print(
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; device: {name}; torch {th.__version__}; "
        f"Python {platform.python_version()}"
    )
    if not cuda:
        print("CUDA was absent: CPU tables at small sizes follow (no GPU figure is measured).")
    on_gpu = device == "cuda"
    min_time = 0.05 if args.quick else 0.5
    gae_table(device, GPU_GAE_SIZES if on_gpu else CPU_GAE_SIZES, min_time)
    for n_envs in GPU_PPO_ENVS if on_gpu else CPU_PPO_ENVS:
        ppo_gpu_table(n_envs, updates=2 if args.quick or not on_gpu else 10, device=device)
    device_env_table(device, GPU_PPO_ENVS if on_gpu else CPU_PPO_ENVS, 10 if args.quick else 100)


if __name__ == "__main__":
    main()
