"""Thrust/CartPole against Gymnasium's CartPole: same physics, draws, rewards and flags."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.utils.env_match import check_environments_match

import thrust_envs  # noqa: F401


@pytest.mark.parametrize("version", ["v1", "v0"])
@pytest.mark.parametrize("seed", [0, 1, 7, 42, 123, 2024])
def test_check_environments_match(version, seed):
    check_environments_match(
        gym.make(f"Thrust/CartPole-{version}"),
        gym.make(f"CartPole-{version}"),
        num_steps=3000,
        seed=seed,
        info_comparison="equivalence",
    )


def _assert_bitwise_same_trajectories(thrust, reference, seed, steps, options=None):
    """Stricter than check_environments_match: exact equality of every observation, reward
    type and value and flag, with unseeded resets that continue the seeded stream."""
    rng = np.random.default_rng(seed)
    obs_a, info_a = thrust.reset(seed=seed, options=options)
    obs_b, info_b = reference.reset(seed=seed, options=options)
    assert obs_a.dtype == obs_b.dtype == np.float32
    np.testing.assert_array_equal(obs_a, obs_b)
    assert info_a == info_b == {}
    episodes = 0
    for _ in range(steps):
        action = int(rng.integers(2))
        obs_a, rew_a, term_a, trunc_a, info_a = thrust.step(action)
        obs_b, rew_b, term_b, trunc_b, info_b = reference.step(action)
        np.testing.assert_array_equal(obs_a, obs_b)
        assert type(rew_a) is type(rew_b) and rew_a == rew_b
        assert (term_a, trunc_a) == (term_b, trunc_b)
        assert info_a == info_b
        if term_a or trunc_a:
            episodes += 1
            obs_a, _ = thrust.reset(options=options)
            obs_b, _ = reference.reset(options=options)
            np.testing.assert_array_equal(obs_a, obs_b)
    return episodes


@pytest.mark.parametrize("seed", [3, 11, 99])
def test_bitwise_identical_over_many_episodes(seed):
    episodes = _assert_bitwise_same_trajectories(
        gym.make("Thrust/CartPole-v1"), gym.make("CartPole-v1"), seed, steps=5000
    )
    assert episodes > 50


def test_reset_options_low_high_match_reference():
    options = {"low": -0.2, "high": 0.2}
    _assert_bitwise_same_trajectories(
        gym.make("Thrust/CartPole-v1"), gym.make("CartPole-v1"), 5, steps=2000, options=options
    )


def test_sutton_barto_reward_matches_reference():
    _assert_bitwise_same_trajectories(
        gym.make("Thrust/CartPole-v1", sutton_barto_reward=True),
        gym.make("CartPole-v1", sutton_barto_reward=True),
        8,
        steps=2000,
    )


def test_time_limit_truncates_at_500_like_reference():
    thrust, reference = gym.make("Thrust/CartPole-v1"), gym.make("CartPole-v1")
    thrust.reset(seed=0)
    reference.reset(seed=0)
    # Balance with a simple controller so that the episode reaches the time limit.
    for t in range(500):  # noqa: B007  (t is checked after the loop)
        s = reference.unwrapped.state
        action = int(s[2] + 0.5 * s[3] > 0)
        _, _, term_a, trunc_a, _ = thrust.step(action)
        _, _, term_b, trunc_b, _ = reference.step(action)
        assert (term_a, trunc_a) == (term_b, trunc_b)
        np.testing.assert_array_equal(thrust.unwrapped.get_state()[:4], reference.unwrapped.state)
    assert trunc_a and not term_a and t == 499


def test_stepping_after_termination_pays_zero_and_warns_like_reference():
    thrust, reference = gym.make("Thrust/CartPole-v1"), gym.make("CartPole-v1")
    thrust.reset(seed=1)
    reference.reset(seed=1)
    rewards_a, rewards_b = [], []
    terminated = False
    while not terminated:
        _, r_a, terminated, _, _ = thrust.step(1)
        _, r_b, _, _, _ = reference.step(1)
        rewards_a.append(r_a)
        rewards_b.append(r_b)
    with pytest.warns(UserWarning, match="reset"):
        for _ in range(3):
            _, r_a, _, _, _ = thrust.step(1)
            rewards_a.append(r_a)
    with pytest.warns(UserWarning):
        for _ in range(3):
            _, r_b, _, _, _ = reference.step(1)
            rewards_b.append(r_b)
    assert rewards_a == rewards_b
    assert rewards_a[-3:] == [0.0, 0.0, 0.0]


def test_spaces_equal_reference():
    thrust, reference = gym.make("Thrust/CartPole-v1"), gym.make("CartPole-v1")
    assert thrust.observation_space == reference.observation_space
    assert thrust.action_space == reference.action_space


def test_gymnasium_check_env_passes():
    gym_check_env(gym.make("Thrust/CartPole-v1", render_mode="rgb_array").unwrapped)
    gym_check_env(gym.make("Thrust/CartPole-v1").unwrapped, skip_render_check=True)


def test_sb3_check_env_passes():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with_warnings = []
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(gym.make("Thrust/CartPole-v1"), warn=True)
    with_warnings = [str(w.message) for w in caught]
    assert not with_warnings, with_warnings


def test_custom_parameters_change_the_physics():
    heavy = gym.make("Thrust/CartPole-v1", gravity=20.0)
    light = gym.make("Thrust/CartPole-v1")
    assert heavy.unwrapped.params.gravity == 20.0
    heavy.reset(seed=0)
    light.reset(seed=0)
    obs_heavy = [heavy.step(1)[0] for _ in range(10)]
    obs_light = [light.step(1)[0] for _ in range(10)]
    assert not np.array_equal(obs_heavy[-1], obs_light[-1])


def test_render_rgb_array_draws_the_cart_where_the_state_puts_it():
    env = gym.make("Thrust/CartPole-v1", render_mode="rgb_array")
    env.reset(seed=0)
    env.unwrapped.set_state(np.array([0.0, 0.0, 0.0, 0.0, 0.0]))
    centred = env.render()
    assert centred.shape == (400, 600, 3) and centred.dtype == np.uint8
    env.unwrapped.set_state(np.array([1.2, 0.0, 0.0, 0.0, 0.0]))
    moved = env.render()
    black = np.all(centred == 0, axis=2)
    black_moved = np.all(moved == 0, axis=2)
    # The cart (black) sits lower-middle: row 300 is 100 px above the bottom, x=0 at col 300.
    cart_cols = np.flatnonzero(black[290])
    cart_cols_moved = np.flatnonzero(black_moved[290])
    assert abs(cart_cols.mean() - 300) < 2
    assert abs(cart_cols_moved.mean() - (300 + 1.2 * 125)) < 2
    env.unwrapped.set_state(np.array([0.0, 0.0, 0.2, 0.0, 0.0]))
    tilted = env.render()
    assert not np.array_equal(tilted, centred)
