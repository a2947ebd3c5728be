"""Property-based tests: random seeds and actions keep observations in their space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import thrust_envs  # noqa: F401

ENV_ID = "Thrust/CartPole-v1"


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), actions=st.lists(st.integers(0, 1), min_size=1, max_size=300)
)
def test_single_env_observations_stay_in_space(seed, actions):
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        assert not np.isnan(obs).any()
        assert env.observation_space.contains(obs), obs
        assert reward == 1.0
        if terminated or truncated:
            obs, _ = env.reset()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**63),
    num_envs=st.integers(1, 40),
    steps=st.integers(1, 200),
    action_seed=st.integers(0, 2**32 - 1),
)
def test_vector_env_observations_stay_in_space(seed, num_envs, steps, action_seed):
    vec = gym.make_vec(ENV_ID, num_envs=num_envs)
    obs, _ = vec.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = vec.step(rng.integers(0, 2, num_envs))
        assert not np.isnan(obs).any()
        assert vec.observation_space.contains(obs)
        assert np.all((reward == 0.0) | (reward == 1.0))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), low=st.floats(-0.2, 0.0), width=st.floats(0.0, 0.2))
def test_reset_bounds_are_respected(seed, low, width):
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=seed, options={"low": low, "high": low + width})
    assert np.all(obs >= np.float32(low)) and np.all(obs <= np.float32(low + width))
