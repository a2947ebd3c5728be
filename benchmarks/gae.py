"""GAE: thrust_algos.compute_gae against SB3's RolloutBuffer.compute_returns_and_advantage.

CPU table: SB3's numpy loop, the ``"numba"`` backend (the fast CPU path) and the ``"torch"``
backend at (n_steps, n_envs) = (2048, 1) and (128, 4096), median of repeated calls (one torch
thread; the numba path splits buffers of at least 2**17 elements into blocks of environments on
numba's threads, all the CPUs by default)
(inputs and outputs preallocated; SB3's call includes its own last-value conversion, as in
training), and the host memory floor (the recursion's 20 bytes an element at the measured copy
bandwidth). Every backend's output is checked against SB3's first.

GPU table (only with a CUDA device): the ``"triton"`` kernel against the ``"torch"`` loop on the
GPU and SB3's loop on the host, at (128, 65536), with the memory floor: the bytes the recursion
must move (read rewards, values, episode starts; write advantages, returns: 20 bytes an element)
over the device's measured copy bandwidth.

Usage::

    python benchmarks/gae.py
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

from thrust_algos import compute_gae

GAMMA, GAE_LAMBDA = 0.99, 0.95


def sb3_buffer(n_steps: int, n_envs: int, seed: int = 0) -> RolloutBuffer:
    rng = np.random.default_rng(seed)
    buffer = RolloutBuffer(
        n_steps,
        spaces.Box(-1, 1, (1,)),
        spaces.Discrete(2),
        "cpu",
        gae_lambda=GAE_LAMBDA,
        gamma=GAMMA,
        n_envs=n_envs,
    )
    buffer.rewards[:] = rng.normal(size=(n_steps, n_envs))
    buffer.values[:] = rng.normal(size=(n_steps, n_envs))
    buffer.episode_starts[:] = rng.random((n_steps, n_envs)) < 0.02
    return buffer


def median_seconds(fn: Callable[[], object], min_time: float = 0.5, sync=lambda: None) -> float:
    """Median wall time of one call, over enough calls to fill ``min_time`` (5 at least)."""
    fn()
    sync()
    times: list[float] = []
    total_start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - total_start < min_time:
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_table() -> None:
    th.set_num_threads(1)
    import numba

    threads = numba.get_num_threads()
    print(f"\n### GAE on the CPU (torch: one thread; numba: {threads} threads)\n")
    print(
        "| n_steps x n_envs | SB3 loop | thrust numba | speed-up | thrust torch loop "
        "| memory floor | numba / floor |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n_steps, n_envs in [(2048, 1), (128, 4096)]:
        buffer = sb3_buffer(n_steps, n_envs)
        last_values = th.randn(n_envs, 1)
        dones = np.random.default_rng(1).random(n_envs) < 0.1
        rewards = th.from_numpy(buffer.rewards)
        values = th.from_numpy(buffer.values)
        starts = th.from_numpy(buffer.episode_starts)
        dones_t = th.from_numpy(dones)
        out = (th.empty(n_steps, n_envs), th.empty(n_steps, n_envs))

        def sb3(buffer=buffer, last_values=last_values, dones=dones) -> None:
            buffer.compute_returns_and_advantage(last_values, dones)

        def thrust(
            backend: str,
            rewards=rewards,
            values=values,
            starts=starts,
            dones_t=dones_t,
            last_values=last_values,
            out=out,
        ) -> tuple[th.Tensor, th.Tensor]:
            return compute_gae(
                rewards,
                values,
                starts,
                last_values,
                dones_t,
                GAMMA,
                GAE_LAMBDA,
                backend=backend,
                out=out,
            )

        sb3()
        for backend in ("numba", "torch"):
            advantages, returns = thrust(backend)
            np.testing.assert_allclose(advantages.numpy(), buffer.advantages, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(returns.numpy(), buffer.returns, rtol=1e-6, atol=1e-6)
        t_sb3 = median_seconds(sb3)
        t_numba = median_seconds(lambda thrust=thrust: thrust("numba"))
        t_torch = median_seconds(lambda thrust=thrust: thrust("torch"))
        floor = host_memory_floor(n_steps * n_envs)
        print(
            f"| {n_steps} x {n_envs} | {t_sb3 * 1e3:.3f} ms | {t_numba * 1e3:.3f} ms | "
            f"{t_sb3 / t_numba:.1f}x | {t_torch * 1e3:.3f} ms | {floor * 1e3:.3f} ms | "
            f"{t_numba / floor:.1f}x |"
        )


def host_memory_floor(n_elements: int) -> float:
    """Seconds to move the recursion's bytes (3 float32 reads and 2 writes an element) at the
    host's copy bandwidth, measured by copying a buffer of that size (same cache level)."""
    bytes_moved = 20 * n_elements
    src = np.ones(bytes_moved // 8, dtype=np.float32)  # a copy reads and writes: 2 x 4 bytes
    dst = np.empty_like(src)
    return median_seconds(lambda: np.copyto(dst, src))


def gpu_table(n_steps: int = 128, n_envs: int = 65_536, device: str = "cuda") -> None:
    print(f"\n### GAE on the GPU, {n_steps} x {n_envs}\n")
    if device == "cuda" and not th.cuda.is_available():
        print("Skipped: no CUDA device on this machine (no GPU figures were measured).")
        return
    buffer = sb3_buffer(n_steps, n_envs)
    last_values = th.randn(n_envs, 1)
    dones = np.random.default_rng(1).random(n_envs) < 0.1
    tensors = {
        "rewards": th.from_numpy(buffer.rewards).to(device),
        "values": th.from_numpy(buffer.values).to(device),
        "episode_starts": th.from_numpy(buffer.episode_starts).to(device),
        "last_values": last_values.to(device),
        "dones": th.from_numpy(dones).to(device),
    }
    # Flags already in the compute dtype, as the rollout buffer stores them.
    tensors["dones"] = tensors["dones"].float()
    out = (th.empty(n_steps, n_envs, device=device), th.empty(n_steps, n_envs, device=device))
    sync = th.cuda.synchronize if device == "cuda" else lambda: None
    name = th.cuda.get_device_name() if device == "cuda" else device
    backends = ("triton", "torch") if device == "cuda" else ("torch",)

    def thrust(backend: str):
        return compute_gae(**tensors, gamma=GAMMA, gae_lambda=GAE_LAMBDA, backend=backend, out=out)

    buffer.compute_returns_and_advantage(last_values, dones)
    for backend in backends:
        advantages, returns = thrust(backend)
        np.testing.assert_allclose(
            advantages.cpu().numpy(), buffer.advantages, rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(returns.cpu().numpy(), buffer.returns, rtol=1e-5, atol=1e-5)

    # Device copy bandwidth: a 1 GiB device-to-device copy reads and writes 1 GiB each.
    src = th.empty(2**28 if device == "cuda" else 2**22, dtype=th.float32, device=device)
    dst = th.empty_like(src)
    t_copy = median_seconds(lambda: dst.copy_(src), sync=sync)
    bandwidth = 2 * src.numel() * 4 / t_copy
    bytes_moved = n_steps * n_envs * 4 * 5 + n_envs * 4 * 2
    floor = bytes_moved / bandwidth

    t_triton = median_seconds(lambda: thrust(backends[0]), sync=sync)
    t_torch = median_seconds(lambda: thrust("torch"), sync=sync)
    t_sb3 = median_seconds(lambda: buffer.compute_returns_and_advantage(last_values, dones))
    print(
        f"Device: {name}; measured copy bandwidth {bandwidth / 1e9:.0f} GB/s;"
        f" bytes moved {bytes_moved / 1e6:.1f} MB; memory floor {floor * 1e6:.1f} us.\n"
    )
    print("| implementation | time | vs floor |")
    print("| --- | ---: | ---: |")
    print(f"| thrust triton kernel | {t_triton * 1e6:.1f} us | {t_triton / floor:.2f}x |")
    print(f"| thrust torch loop (GPU) | {t_torch * 1e6:.1f} us | {t_torch / floor:.1f}x |")
    print(f"| SB3 numpy loop (host) | {t_sb3 * 1e6:.1f} us | {t_sb3 / floor:.1f}x |")


def main() -> None:
    print(
        f"Date: {time.strftime('%Y-%m-%d')}; {platform.machine()}, Python "
        f"{platform.python_version()}, torch {th.__version__}, numpy {np.__version__}; "
        "command: python benchmarks/gae.py"
    )
    cpu_table()
    gpu_table()


if __name__ == "__main__":
    main()
