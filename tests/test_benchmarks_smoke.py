"""Smoke tests of the benchmark scripts: each runs end to end on tiny sizes, so they cannot rot.

They assert what the scripts check and print (bit-equality to SB3, the tables' headers, the
absent-CUDA notice), never a speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(*args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.skipif(th.cuda.is_available(), reason="the CPU smoke run; a GPU runs the full check")
def test_gpu_check_runs_on_the_cpu() -> None:
    out = run_benchmark("benchmarks/gpu_check.py", "--quick")
    assert "CUDA was absent" in out
    assert "### GAE on cpu" in out
    assert "bit-equal to SB3's" in out
    assert out.count("| thrust_algos.PPO | Thrust/CartPole-v1") == 1
    assert "Device envs (thrust_envs.cuda)" in out


def test_gpu_check_refuses_cuda_without_a_device() -> None:
    if th.cuda.is_available():
        pytest.skip("a CUDA device is present")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--device", "cuda"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "no CUDA device" in result.stderr
