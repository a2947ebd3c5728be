"""The views a user reaches by ID on a device, against the CPU views: shared by the simulator
run (tests/cuda_sim_device_ppo.py, ``device="cpu"``, where everything must be equal) and the
CUDA-only test in tests/test_algos_device_env.py (``device="cuda"``, within the hardware
contract of ARCHITECTURE.md: observations within a few float32 ulps; flags, rewards and
random streams exact)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from thrust_algos import PPO
from thrust_envs.sb3 import make_vec_env

STEPS = 40  # CartPole's random episodes end within about 20 steps: every row resets


def _close(mine: np.ndarray, theirs: np.ndarray, atol: float, where: str) -> None:
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype, where
    if atol == 0:
        assert np.array_equal(mine, theirs), where
    else:
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=atol, err_msg=where)


def views_by_id_agree(device: str, atol: float, rows: int) -> str:
    """``gymnasium.make_vec(..., device=)`` and ``thrust_envs.sb3.make_vec_env(..., device=)``
    step as the CPU views do for ``STEPS`` random steps with resets (observations within
    ``atol``, everything else equal), their outputs stay on ``device``, a CUDA device's step
    replays from the CUDA graph, and PPO trains on the SB3 view without leaving the device.
    Returns a line saying what was checked."""
    env_id = "Thrust/CartPole-v1"
    on_device = gym.make_vec(env_id, num_envs=rows, device=device, autoreset_mode="SameStep")
    on_cpu = gym.make_vec(env_id, num_envs=rows, autoreset_mode="SameStep")
    obs, _ = on_device.reset(seed=0)
    cpu_obs, _ = on_cpu.reset(seed=0)
    assert obs.device.type == torch.device(device).type
    _close(obs.cpu().numpy(), cpu_obs, atol, "gymnasium reset")
    rng = np.random.default_rng(0)
    finished = 0
    for step in range(STEPS):
        actions = rng.integers(0, 2, rows)
        out = on_device.step(torch.as_tensor(actions, device=device))
        cpu_out = on_cpu.step(actions)
        where = f"gymnasium step {step}"
        _close(out[0].cpu().numpy(), cpu_out[0], atol, where)
        for mine, theirs in zip(out[1:4], cpu_out[1:4], strict=True):
            assert np.array_equal(mine.cpu().numpy(), theirs), where
        done = cpu_out[2] | cpu_out[3]
        finished += int(done.sum())
        if done.any():
            assert np.array_equal(out[4]["_final_obs"].cpu().numpy(), cpu_out[4]["_final_obs"])
            final = out[4]["final_obs"].cpu().numpy()
            for row in np.flatnonzero(done):
                _close(final[row], cpu_out[4]["final_obs"][row], atol, f"{where} final_obs")
        if device.startswith("cuda") and step >= 1:
            assert on_device.device_env.step_path == "CUDA graph", on_device.device_env.step_path
    assert finished > rows, finished

    venv = make_vec_env(env_id, rows, seed=3, device=device)
    cpu_venv = make_vec_env(env_id, rows, seed=3)
    _close(venv.reset(), cpu_venv.reset(), atol, "sb3 reset")
    for step in range(STEPS):
        actions = rng.integers(0, 2, rows)
        venv.step_async(actions)
        cpu_venv.step_async(actions)
        (obs, rewards, dones, infos), cpu_out = venv.step_wait(), cpu_venv.step_wait()
        where = f"sb3 step {step}"
        _close(obs, cpu_out[0], atol, where)
        assert np.array_equal(rewards, cpu_out[1]) and np.array_equal(dones, cpu_out[2]), where
        for info, cpu_info in zip(infos, cpu_out[3], strict=True):
            assert info.keys() == cpu_info.keys(), where
            if "episode" in info:
                _close(info["terminal_observation"], cpu_info["terminal_observation"], atol, where)
                assert (info["episode"]["r"], info["episode"]["l"]) == (
                    cpu_info["episode"]["r"], cpu_info["episode"]["l"]), where  # fmt: skip
    model = PPO("MlpPolicy", venv, n_steps=16, batch_size=8 * rows, n_epochs=1, device=device)
    model.learn(2 * 16 * rows)
    assert model.rollout_path == "device", model.rollout_path
    assert model.num_timesteps == 2 * 16 * rows
    assert len(model.ep_info_buffer) > 0  # episode statistics reached SB3's logger
    return (
        f"gymnasium.make_vec and make_vec_env on {device} equal the CPU views within {atol} "
        f"over {STEPS} steps ({finished} episodes); PPO trained on the device"
    )
