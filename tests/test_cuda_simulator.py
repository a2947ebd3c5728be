"""The CUDA templates against the CPU kernels, under numba's CUDA simulator (no GPU needed).

numba reads NUMBA_ENABLE_CUDASIM when it is imported, so the checks run in a subprocess
(tests/cuda_sim_checks.py); and ``import thrust_envs`` must not import numba.cuda at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")

HERE = Path(__file__).resolve().parent


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(HERE.parent), **env}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, env=environ
    )


def test_cuda_templates_equal_cpu_kernels_for_every_env_and_game():
    """Every env in every autoreset mode with time limits and seeds, and every game with
    autoreset: thousands of simulated CUDA steps equal the CPU kernel array for array, invalid
    actions included (see cuda_sim_checks.py for what each check steps)."""
    result = _run(
        [str(HERE / "cuda_sim_checks.py"), "cartpole", "classic", "games"],
        NUMBA_ENABLE_CUDASIM="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 + 8 + 3, result.stdout
    assert all(line.endswith("equal") for line in lines), result.stdout


def test_import_thrust_envs_does_not_import_numba_cuda():
    code = (
        "import sys, gymnasium as gym, thrust_envs, thrust_envs.env_classes\n"
        "env = gym.make_vec('Thrust/CartPole-v1', num_envs=2); env.reset(seed=0)\n"
        "print('numba.cuda' in sys.modules, 'thrust_envs.cuda' in sys.modules)"
    )
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
