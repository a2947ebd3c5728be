"""thrust_algos.PPO on a device env (issue 18): the SB3 view of thrust_envs.cuda's envs and the
rollout that stays on the device, checked under numba's CUDA simulator on CPU tensors (a
subprocess, tests/cuda_sim_device_ppo.py) against the CPU views and PPO's CPU paths, bit for
bit; and the view's refusals, which need no simulator."""

from __future__ import annotations

import pytest
from cuda_sim import run_under_simulator

pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")
pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")


def test_device_ppo_equals_cpu_paths_under_simulator():
    lines = run_under_simulator("cuda_sim_device_ppo.py")
    assert len(lines) == 26, lines
    assert sum("equal to the CPU path" in line for line in lines) == 7, lines
    assert sum(line.startswith("vs-opponent view") for line in lines) == 3, lines
    assert sum(line.startswith("make_vec_env view") for line in lines) == 2, lines
    assert sum(line.startswith("device rollout: the same") for line in lines) == 1, lines
    assert sum("equal the CPU views within 0 over" in line for line in lines) == 1, lines


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_views_by_id_on_cuda_agree_with_the_cpu_views():
    """On a GPU: gymnasium.make_vec and thrust_envs.sb3.make_vec_env with device="cuda" step as
    the CPU views within the hardware contract (observations within 1e-5; ARCHITECTURE.md
    measured at most one float32 ulp a step), replay the CUDA graph, and PPO trains on them
    without leaving the device (tests/device_views.py; exact under the simulator)."""
    from device_views import views_by_id_agree

    views_by_id_agree("cuda", atol=1e-5, rows=512)


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
