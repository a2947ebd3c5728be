"""thrust_algos.PPO on a device env (issue 18): the SB3 view of thrust_envs.cuda's envs and the
rollout that stays on the device, checked under numba's CUDA simulator on CPU tensors (a
subprocess, tests/cuda_sim_device_ppo.py) against the CPU views and PPO's CPU paths, bit for
bit; and the view's refusals, which need no simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")
pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent


def test_device_ppo_equals_cpu_paths_under_simulator():
    environ = {**os.environ, "PYTHONPATH": str(HERE.parent), "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, str(HERE / "cuda_sim_device_ppo.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env=environ,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 18, result.stdout
    assert sum("equal to the CPU path" in line for line in lines) == 7, result.stdout
    assert sum(line.startswith("vs-opponent view") for line in lines) == 3, result.stdout
    assert sum(line.startswith("device rollout: the same") for line in lines) == 1, result.stdout


def test_the_sb3_views_refuse_what_is_not_a_device_env():
    from thrust_envs.sb3.device import DeviceSB3VecEnv, DeviceVsOpponentVecEnv

    with pytest.raises(TypeError, match=r"wraps a thrust_envs\.cuda DeviceVecEnv"):
        DeviceSB3VecEnv(object())
    with pytest.raises(TypeError, match=r"plays a thrust_envs\.cuda DeviceGameVecEnv"):
        DeviceVsOpponentVecEnv(object(), lambda obs: obs)


def test_device_plan_names_why_the_rollout_leaves_the_device():
    from thrust_algos.device_rollout import _same_device, device_plan

    assert _same_device(torch.device("cpu"), torch.device("cpu"))
    assert not _same_device(torch.device("cpu"), torch.device("cuda"))
    if not torch.cuda.is_available():  # then 0 stands for the current device
        assert _same_device(torch.device("cuda"), torch.device("cuda:0"))
    assert not _same_device(torch.device("cuda:0"), torch.device("cuda:1"))
    reason = device_plan(None, object(), None)  # type: ignore[arg-type]
    assert reason == "the env is a object, not the SB3 view of a device env"
