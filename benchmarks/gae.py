"""GAE: thrust_algos.compute_gae against SB3's RolloutBuffer.compute_returns_and_advantage.

CPU table: SB3's numpy loop, the ``"numba"`` backend (the fast CPU path) and the ``"torch"``
backend at (n_steps, n_envs) = (2048, 1) and (128, 4096), median of repeated calls (one torch
thread; the numba path splits buffers of at least 2**17 elements into blocks of environments on
numba's threads, all the CPUs by default)
(inputs and outputs preallocated; SB3's call includes its own last-value conversion, as in
training), and the host memory floor (the recursion's 20 bytes an element at the measured copy
bandwidth). Every backend's output is checked against SB3's first.

GPU table (only with a CUDA device): the ``"triton"`` kernel against the ``"torch"`` loop on the
GPU and SB3's loop on the host, at (128, 4096), (128, 65536) and (2048, 1), each checked bit for
bit against SB3's result first, with the memory floor: the bytes the recursion
must move (read rewards, values, episode starts; write advantages, returns: 20 bytes an element)
over the device's measured copy bandwidth.

Usage::

    python benchmarks/gae.py [--quick] [--device cuda]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch as th
from common import header, make_parser
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


def cpu_table(sizes: list[tuple[int, int]], min_time: float = 0.5) -> None:
    th.set_num_threads(1)
    import numba

    threads = numba.get_num_threads()
    print(f"\n### GAE on the CPU (torch: one thread; numba: {threads} threads)\n")
    print(
        "| n_steps x n_envs | SB3 loop | thrust numba | speed-up | thrust torch loop "
        "| memory floor | numba / floor |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n_steps, n_envs in sizes:
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
        t_sb3 = median_seconds(sb3, min_time)
        t_numba = median_seconds(lambda thrust=thrust: thrust("numba"), min_time)
        t_torch = median_seconds(lambda thrust=thrust: thrust("torch"), min_time)
        floor = host_memory_floor(n_steps * n_envs, min_time)
        print(
            f"| {n_steps} x {n_envs} | {t_sb3 * 1e3:.3f} ms | {t_numba * 1e3:.3f} ms | "
            f"{t_sb3 / t_numba:.1f}x | {t_torch * 1e3:.3f} ms | {floor * 1e3:.3f} ms | "
            f"{t_numba / floor:.1f}x |"
        )


def host_memory_floor(n_elements: int, min_time: float = 0.5) -> float:
    """Seconds to move the recursion's bytes (3 float32 reads and 2 writes an element) at the
    host's copy bandwidth, measured by copying a buffer of that size (same cache level)."""
    bytes_moved = 20 * n_elements
    src = np.ones(bytes_moved // 8, dtype=np.float32)  # a copy reads and writes: 2 x 4 bytes
    dst = np.empty_like(src)
    return median_seconds(lambda: np.copyto(dst, src), min_time)


def device_tensors(buffer, last_values: th.Tensor, dones: np.ndarray, device: str) -> dict:
    return {
        "rewards": th.from_numpy(buffer.rewards).to(device),
        "values": th.from_numpy(buffer.values).to(device),
        "episode_starts": th.from_numpy(buffer.episode_starts).to(device),
        "last_values": last_values.to(device),
        "dones": th.from_numpy(dones).to(device).float(),
    }


def device_seconds(fn: Callable[[], object], device: str, min_time: float) -> float:
    """Median seconds of one call of ``fn``: on CUDA timed with CUDA events by Triton's
    ``do_bench`` (which also flushes the L2 cache between calls), else :func:`median_seconds`."""
    if device != "cuda":
        return median_seconds(fn, min_time=min_time)
    from triton.testing import do_bench

    return do_bench(fn, warmup=25, rep=max(100, int(min_time * 1e3)), return_mode="median") / 1e3


def copy_bandwidth(device: str, n_floats: int) -> float:
    """Bytes per second of a device-to-device copy (read and written bytes counted)."""
    sync = th.cuda.synchronize if device == "cuda" else (lambda: None)
    src = th.empty(n_floats, dtype=th.float32, device=device)
    dst = th.empty_like(src)
    return 2 * n_floats * 4 / median_seconds(lambda: dst.copy_(src), sync=sync)


def gpu_table(sizes: list[tuple[int, int]], device: str = "cuda", min_time: float = 0.5) -> None:
    """The device table: the ``"triton"`` kernel (on CUDA) and the ``"torch"`` loop on ``device``,
    and SB3's loop on the host, against the memory floor; each result bit-equal to SB3's."""
    if device == "cuda" and not th.cuda.is_available():
        print("\nGAE on the GPU skipped: no CUDA device on this machine (no GPU figures measured).")
        return
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
            times.append(device_seconds(run, device, min_time))

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
    if device == "cuda":
        print("Device times: median of CUDA-event timings, L2 flushed between calls (do_bench).")


# The Triton kernel's launch shapes tried by triton_variants_table: (envs a program, warps).
VARIANTS = [(32, 1), (64, 1), (64, 2), (128, 1), (128, 2), (128, 4), (256, 2), (256, 4), (512, 4)]


def triton_variants_table(sizes: list[tuple[int, int]], min_time: float = 0.5) -> None:
    """The Triton kernel at other launch shapes (envs a program, warps, pipelining stages)
    against the floor, each checked bit for bit against SB3's result first: what to tune
    ``_triton_gae.BLOCK_ENVS`` / ``LAUNCH_OPTIONS`` to. CUDA only."""
    from thrust_algos._triton_gae import BLOCK_ENVS, LAUNCH_OPTIONS, gae_triton
    from thrust_algos.gae import GaeInputs

    if not th.cuda.is_available():
        print("\nTriton launch shapes skipped: no CUDA device (no GPU figures measured).")
        return
    bandwidth = copy_bandwidth("cuda", 2**28)
    print(f"\n### Triton GAE launch shapes; copy bandwidth {bandwidth / 1e9:.1f} GB/s\n")
    print(f"Today's: {BLOCK_ENVS} envs a program, {LAUNCH_OPTIONS}.\n")
    print("| n_steps x n_envs | envs a program | warps | stages | time | time / floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for n_steps, n_envs in sizes:
        buffer = sb3_buffer(n_steps, n_envs)
        last_values = th.randn(n_envs, 1, generator=th.Generator().manual_seed(1))
        dones = np.random.default_rng(1).random(n_envs) < 0.1
        buffer.compute_returns_and_advantage(last_values, dones)
        t = device_tensors(buffer, last_values, dones, "cuda")
        inputs = GaeInputs(t["rewards"], t["values"], t["episode_starts"].float(),
                           t["last_values"].reshape(-1), t["dones"])  # fmt: skip
        floor = (n_steps * n_envs * 5 + n_envs * 2) * 4 / bandwidth
        for block, warps in VARIANTS:
            for stages in (1, 3):
                advantages = th.full((n_steps, n_envs), float("nan"), device="cuda")
                returns = th.full_like(advantages, float("nan"))
                options = {"num_warps": warps, "num_stages": stages}

                def run(inputs=inputs, block=block, options=options, out=(advantages, returns)):
                    gae_triton(inputs, GAMMA, GAE_LAMBDA, *out, block=block,
                               launch_options=options)  # fmt: skip

                run()
                if not (
                    np.array_equal(advantages.cpu().numpy(), buffer.advantages)
                    and np.array_equal(returns.cpu().numpy(), buffer.returns)
                ):
                    raise AssertionError(f"Triton GAE {block}/{warps}/{stages} differs from SB3")
                seconds = device_seconds(run, "cuda", min_time)
                print(
                    f"| {n_steps} x {n_envs} | {block} | {warps} | {stages} | "
                    f"{seconds * 1e6:.1f} us | {seconds / floor:.2f}x |",
                    flush=True,
                )


CPU_SIZES = [(2048, 1), (128, 4096)]
GPU_SIZES = [(128, 4096), (128, 65_536), (2048, 1)]
QUICK_SIZES = [(64, 1), (16, 64)]


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--device", default="cuda", help="device of the GPU table (cuda)")
    args = parser.parse_args(argv)
    print(
        header(
            "GAE: thrust_algos.compute_gae against SB3",
            __file__,
            argv,
            f"torch {th.__version__}",
            f"numpy {np.__version__}",
        )
    )
    min_time = 0.05 if args.quick else 0.5
    cpu_table(QUICK_SIZES if args.quick else CPU_SIZES, min_time)
    gpu_table(QUICK_SIZES if args.quick else GPU_SIZES, args.device, min_time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
