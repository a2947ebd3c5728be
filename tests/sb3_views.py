"""Checks the CPU and device SB3 views share (tests/test_sb3_vec_env.py, the simulator runs)."""

from __future__ import annotations

import numpy as np


def first_observations_after_set_options(venv, steps: int = 300):
    """Reset with ``set_options`` bounds of +-0.001 (CartPole), then step: the first
    observations of the reset and of every later episode (``[rows, 4]`` each)."""
    venv.set_options({"low": -0.001, "high": 0.001})
    first = venv.reset()
    later = []
    for _ in range(steps):
        obs, _, dones, _ = venv.step(np.ones(venv.num_envs, dtype=np.int64))
        later.append(obs[dones])
    return first, np.concatenate(later)
