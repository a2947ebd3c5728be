"""thrust_envs.cuda's device envs: under numba's CUDA simulator on CPU tensors (a subprocess,
tests/cuda_sim_device_env.py) equal to the CPU views step by step with the same errors; and,
without a GPU, clear errors instead of a device env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")
torch = pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent


def test_device_envs_equal_cpu_views_under_simulator():
    environ = {**os.environ, "PYTHONPATH": str(HERE.parent), "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, str(HERE / "cuda_sim_device_env.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env=environ,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.stdout.splitlines()) == 5, result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_without_cuda_the_device_env_says_why():
    from thrust_envs.cuda import make_vec

    with pytest.raises(RuntimeError, match="CUDA is not available to torch"):
        make_vec("Thrust/CartPole-v1", 4)
    with pytest.raises(ValueError, match="runs on a CUDA device"):
        make_vec("Thrust/CartPole-v1", 4, device="cpu")
    with pytest.raises(ValueError, match="unknown environment"):
        make_vec("Thrust/Nope-v0", 4)
