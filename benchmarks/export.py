"""Benchmark: exported policies (NumpyPolicy, onnxruntime) against SB3's ``model.predict``.

One run, side by side, on the same PPO ``MlpPolicy`` for Gymnasium's CartPole-v1 (64-64 tanh, the
SB3 default): single-observation predict latency, batch-1024 throughput and artifact sizes. The
weights are untrained (timing does not depend on their values) unless ``--timesteps`` is given.
Before timing, the exports are checked to return SB3's actions on the benchmark observations.

Usage::

    python benchmarks/export.py            # full run (under a minute)
    python benchmarks/export.py --quick    # smoke run, numbers meaningless

Each latency is the median over ``--repeats`` timing runs of the mean time per call in that run
(the minimum is printed too). All runners get the same thread count, ``--threads`` (default 1):
``torch.set_num_threads``, onnxruntime's ``intra_op_num_threads`` and numpy's OpenBLAS
(``OPENBLAS_NUM_THREADS``, set before numpy is imported when this file runs as a script). One
thread suits these tiny networks; on a small shared machine, idle-spinning worker threads of torch
and OpenBLAS otherwise inflate timings by up to an order of magnitude.

Targets from issue #5: NumpyPolicy single-observation predict <= 15 us, and >= 20x faster than
SB3's predict in the same run.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path

# numpy's OpenBLAS reads its thread count when numpy is first imported: set it before that.
from common import blas_threads_from_argv, header, make_parser

if __name__ == "__main__":
    blas_threads_from_argv(sys.argv[1:])

import numpy as np

LATENCY_TARGET_US = 15.0
SPEEDUP_TARGET = 20.0

Timing = tuple[float, float]  # (median, min) seconds per call


def _time_per_call(fn: Callable[[], object], number: int, repeats: int) -> Timing:
    """(median, min) over ``repeats`` runs of the mean seconds per call of ``fn``."""
    fn()  # warm-up
    runs = [t / number for t in timeit.repeat(fn, number=number, repeat=repeats)]
    return statistics.median(runs), min(runs)


def _hand_written_forward(
    layers: list[tuple[np.ndarray, np.ndarray]],
) -> Callable[[np.ndarray], int]:
    """The plain numpy forward of the same network, with no checks at all: a lower bound."""
    (w1, b1), (w2, b2), (w3, b3) = layers

    def forward(obs: np.ndarray) -> int:
        h = np.tanh(w1 @ obs + b1)
        h = np.tanh(w2 @ h + b2)
        return int(np.argmax(w3 @ h + b3))

    return forward


def run(
    repeats: int,
    single_calls: int,
    batch_calls: int,
    timesteps: int = 0,
    seed: int = 0,
    threads: int = 1,
) -> dict[str, object]:
    """Build, export, verify and time; return the measurements."""
    import gymnasium as gym
    import onnxruntime as ort
    import torch as th
    from stable_baselines3 import PPO

    import thrust_export
    from thrust_export.parity import sample_observations

    th.set_num_threads(threads)
    env = gym.make("CartPole-v1")
    model = PPO("MlpPolicy", env, device="cpu", seed=seed)
    if timesteps:
        model.learn(timesteps)
    workdir = Path(tempfile.mkdtemp(prefix="thrust-export-bench-"))
    zip_path = workdir / "ppo_cartpole.zip"
    model.save(zip_path)
    npz_path = thrust_export.export_numpy(model, workdir / "policy.npz")
    onnx_path = thrust_export.export_onnx(model, workdir / "policy.onnx")
    numpy_policy = thrust_export.load(npz_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    obs, _ = env.reset(seed=seed)
    obs = np.asarray(obs, dtype=np.float32)
    obs1 = obs[None]
    batch = sample_observations(model.observation_space, 1024, seed=seed)

    # Same answers before timing anything.
    expected = model.predict(batch, deterministic=True)[0]
    assert np.array_equal(numpy_policy.predict(batch)[0], expected)
    assert np.array_equal(session.run(["action"], {"obs": batch})[0], expected)
    assert numpy_policy.predict(obs)[0] == model.predict(obs, deterministic=True)[0]
    policy = model.policy
    layers = [
        (m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
        for m in [*policy.mlp_extractor.policy_net, policy.action_net]
        if isinstance(m, th.nn.Linear)
    ]
    hand = _hand_written_forward(layers)
    assert hand(obs) == int(model.predict(obs, deterministic=True)[0])

    sb3_calls = max(single_calls // 10, 1)  # SB3 is ~10-50x slower: fewer calls, same duration
    single: dict[str, Timing] = {
        "SB3 model.predict": _time_per_call(
            lambda: model.predict(obs, deterministic=True), sb3_calls, repeats
        ),
        "NumpyPolicy.predict": _time_per_call(
            lambda: numpy_policy.predict(obs), single_calls, repeats
        ),
        "onnxruntime session.run": _time_per_call(
            lambda: session.run(["action"], {"obs": obs1}), single_calls, repeats
        ),
        "hand-written numpy forward (no checks)": _time_per_call(
            lambda: hand(obs), single_calls, repeats
        ),
    }
    batched: dict[str, Timing] = {
        "SB3 model.predict": _time_per_call(
            lambda: model.predict(batch, deterministic=True), batch_calls, repeats
        ),
        "NumpyPolicy.predict": _time_per_call(
            lambda: numpy_policy.predict(batch), batch_calls, repeats
        ),
        "onnxruntime session.run": _time_per_call(
            lambda: session.run(["action"], {"obs": batch}), batch_calls, repeats
        ),
    }
    sizes = {
        "SB3 .zip (with optimizer state)": zip_path.stat().st_size,
        "numpy .npz": npz_path.stat().st_size,
        "ONNX .onnx": onnx_path.stat().st_size,
    }
    settings = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": th.__version__,
        "onnxruntime": ort.__version__,
        "torch threads": th.get_num_threads(),
        "onnxruntime intra-op threads": threads,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "cpu count": os.cpu_count(),
        "repeats": repeats,
        "calls per repeat (1-obs numpy/onnx, 1-obs SB3, batch)": (
            f"{single_calls}/{sb3_calls}/{batch_calls}"
        ),
    }
    return {"single": single, "batched": batched, "sizes": sizes, "settings": settings}


def format_report(results: dict[str, object], command: str) -> str:
    """The Markdown report: latency/throughput table with ratios to SB3, sizes, targets."""
    single: dict[str, Timing] = results["single"]  # type: ignore[assignment]
    batched: dict[str, Timing] = results["batched"]  # type: ignore[assignment]
    sizes: dict[str, int] = results["sizes"]  # type: ignore[assignment]
    settings: dict[str, object] = results["settings"]  # type: ignore[assignment]
    sb3_single = single["SB3 model.predict"][0]
    sb3_batch = batched["SB3 model.predict"][0]
    lines = [
        f"Command: `{command}`",
        "",
        "| Runner | 1-obs predict: median (min) | vs SB3 | batch-1024: obs/s | vs SB3 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (median, best) in single.items():
        if name in batched:
            per_batch = batched[name][0]
            batch_cols = f"{1024 / per_batch:,.0f} | {sb3_batch / per_batch:.1f}x"
        else:
            batch_cols = "- | -"
        lines.append(
            f"| {name} | {median * 1e6:.1f} us ({best * 1e6:.1f} us) | "
            f"{sb3_single / median:.1f}x | {batch_cols} |"
        )
    lines += ["", "| Artifact | Size |", "|---|---:|"]
    lines += [f"| {name} | {size / 1024:.1f} KiB |" for name, size in sizes.items()]
    latency_us = single["NumpyPolicy.predict"][0] * 1e6
    speedup = sb3_single / single["NumpyPolicy.predict"][0]
    lines += [
        "",
        f"Target: NumpyPolicy 1-obs predict <= {LATENCY_TARGET_US:g} us: measured "
        f"{latency_us:.1f} us -> {'MET' if latency_us <= LATENCY_TARGET_US else 'NOT MET'}",
        f"Target: >= {SPEEDUP_TARGET:g}x faster than SB3 predict (same run): measured "
        f"{speedup:.1f}x -> {'MET' if speedup >= SPEEDUP_TARGET else 'NOT MET'}",
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="timing runs per measurement")
    parser.add_argument("--single-calls", type=int, default=20000, help="calls per 1-obs run")
    parser.add_argument("--batch-calls", type=int, default=200, help="calls per batch run")
    parser.add_argument("--timesteps", type=int, default=0, help="train first (0: untrained)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch/onnxruntime/BLAS threads")
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    if args.quick:
        args.repeats, args.single_calls, args.batch_calls = 2, 50, 2
    results = run(
        args.repeats, args.single_calls, args.batch_calls, args.timesteps, args.seed, args.threads
    )
    print(header("Exported policies against SB3's predict", __file__, arguments))
    print(format_report(results, " ".join(["python benchmarks/export.py", *arguments])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
