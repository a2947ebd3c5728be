"""Property-based tests: random seeds and actions keep observations in their space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from env_ids import ALL_IDS
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


@settings(max_examples=40, deadline=None)
@given(
    env_id=st.sampled_from(ALL_IDS),
    seed=st.integers(0, 2**32 - 1),
    num_envs=st.integers(1, 16),
    steps=st.integers(1, 150),
)
def test_every_env_keeps_observations_in_space_single_and_vector(env_id, seed, num_envs, steps):
    env = gym.make(env_id)
    vec = gym.make_vec(env_id, num_envs=num_envs)
    env.action_space.seed(seed)
    vec.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    vobs, _ = vec.reset(seed=seed)
    assert env.observation_space.contains(obs) and vec.observation_space.contains(vobs)
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        vobs, vreward, *_ = vec.step(vec.action_space.sample())
        assert env.observation_space.contains(obs), obs
        assert vec.observation_space.contains(vobs), vobs
        assert np.isfinite(reward) and np.all(np.isfinite(vreward))
        if terminated or truncated:
            env.reset()
