"""predict(..., deterministic=False) samples the same distributions as SB3 (statistically)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from export_helpers import get_case
from export_helpers import one_torch_thread as one_torch_thread

import thrust_export
from thrust_export.parity import sample_observations
from thrust_export.sb3 import extract

N = 6000


def _policy(case: str, seed: int = 0) -> thrust_export.NumpyPolicy:
    model, _ = get_case(case)
    return thrust_export.NumpyPolicy(*extract(model), seed=seed)


@pytest.mark.parametrize("case", ["ppo-discrete", "ppo-multidiscrete", "ppo-multibinary"])
def test_discrete_sampling_frequencies(case: str) -> None:
    model, _ = get_case(case)
    policy = _policy(case)
    obs = sample_observations(model.observation_space, 1, seed=2)
    batch = np.repeat(obs, N, axis=0)
    ours = policy.predict(batch, deterministic=False)[0].reshape(N, -1)
    th.manual_seed(0)
    theirs = model.predict(batch, deterministic=False)[0].reshape(N, -1)
    assert ours.dtype == theirs.dtype
    for column in range(ours.shape[1]):
        values = np.union1d(ours[:, column], theirs[:, column])
        f_ours = np.array([np.mean(ours[:, column] == v) for v in values])
        f_theirs = np.array([np.mean(theirs[:, column] == v) for v in values])
        # Two samples of 6000: frequencies agree within ~5 standard errors.
        np.testing.assert_allclose(f_ours, f_theirs, atol=0.045)
    assert len(np.unique(ours[:, 0])) > 1  # really random


@pytest.mark.parametrize("case", ["ppo-box", "sac"])
def test_continuous_sampling_moments(case: str) -> None:
    model, _ = get_case(case)
    policy = _policy(case)
    obs = sample_observations(model.observation_space, 1, seed=4)
    batch = np.repeat(obs, N, axis=0)
    ours = policy.predict(batch, deterministic=False)[0]
    th.manual_seed(0)
    theirs = model.predict(batch, deterministic=False)[0]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    spread = theirs.std(axis=0)
    assert spread.max() > 0.05  # really random
    # Means of two samples of N agree within ~6 standard errors; spreads within 10 %.
    np.testing.assert_array_less(
        np.abs(ours.mean(axis=0) - theirs.mean(axis=0)), 6 * spread * np.sqrt(2 / N) + 1e-6
    )
    np.testing.assert_allclose(ours.std(axis=0), spread, rtol=0.1, atol=1e-4)
    low, high = model.action_space.low, model.action_space.high
    assert np.all(ours >= low) and np.all(ours <= high)


def test_td3_ignores_deterministic_like_sb3() -> None:
    model, _ = get_case("td3")
    policy = _policy("td3")
    obs = sample_observations(model.observation_space, 50, seed=1)
    np.testing.assert_array_equal(
        policy.predict(obs, deterministic=False)[0], policy.predict(obs)[0]
    )
    np.testing.assert_allclose(
        policy.predict(obs, deterministic=False)[0],
        model.predict(obs, deterministic=False)[0],
        atol=1e-5,
    )


def test_dqn_epsilon_greedy() -> None:
    model, _ = get_case("dqn")
    metadata, arrays = extract(model)
    metadata["head"]["exploration_rate"] = 0.5
    policy = thrust_export.NumpyPolicy(metadata, arrays, seed=3)
    obs = sample_observations(model.observation_space, 1, seed=0)[0]
    greedy = policy.predict(obs)[0]
    draws = np.array([policy.predict(obs, deterministic=False)[0] for _ in range(3000)])
    assert draws.dtype == np.int64 and draws.shape == (3000,)
    # With probability 0.5 a uniform action among 3: P(action != greedy) = 0.5 * 2/3.
    assert abs(np.mean(draws != greedy) - 1 / 3) < 0.04
    # As DQN.predict: one draw per call decides for the whole batch (greedy, or a random action
    # for every row), not one per row. 400 calls on 64 rows: the all-greedy calls are those that
    # did not explore (0.5) and those whose 64 random actions all hit the greedy ones (3**-64);
    # drawn per row, a call would be all greedy with probability (2/3)**64.
    batch = sample_observations(model.observation_space, 64, seed=1)
    greedy_rows = policy.predict(batch)[0]
    all_greedy = [
        np.array_equal(policy.predict(batch, deterministic=False)[0], greedy_rows)
        for _ in range(400)
    ]
    assert abs(np.mean(all_greedy) - 0.5) < 0.1  # 4 standard errors
    assert policy.metadata["head"]["exploration_rate"] == 0.5
    assert extract(model)[0]["head"]["exploration_rate"] == model.exploration_rate


def test_seeded_sampling_is_reproducible() -> None:
    model, _ = get_case("ppo-box")
    obs = sample_observations(model.observation_space, 20, seed=0)
    a = _policy("ppo-box", seed=7).predict(obs, deterministic=False)[0]
    b = _policy("ppo-box", seed=7).predict(obs, deterministic=False)[0]
    np.testing.assert_array_equal(a, b)
    policy = _policy("ppo-box", seed=8)
    assert not np.array_equal(policy.predict(obs, deterministic=False)[0], a)
    policy.seed(7)
    np.testing.assert_array_equal(policy.predict(obs, deterministic=False)[0], a)
