"""vs_opponent's documented opponents: a trained SB3 model (its bound ``predict``, which
answers ``(actions, state)``, or the model itself) and a thrust_export NumpyPolicy (an object
with ``predict``, not callable) play as the same deterministic policy."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import thrust_envs
from thrust_envs.multiagent.pong import random_bot

GAME = "Thrust/Pong-v0"


@pytest.fixture(scope="module")
def model():
    from stable_baselines3 import PPO

    venv = thrust_envs.vs_opponent(GAME, random_bot(0), 4, seed=0, max_steps=50)
    return PPO("MlpPolicy", venv, n_steps=32, batch_size=64, seed=0, device="cpu").learn(64)


def _play(opponent, steps=120):
    """Observations, rewards and dones of ``steps`` steps with a fixed learner action."""
    venv = thrust_envs.vs_opponent(GAME, opponent, 4, seed=3, max_steps=50)
    out = [venv.reset()]
    actions = np.ones(4, dtype=np.int64)
    for _ in range(steps):
        obs, rewards, dones, _ = venv.step(actions)
        out += [obs, rewards, dones]
    return out


def _greedy(model):
    """The reference: the model's deterministic actions, as a plain callable."""
    return lambda obs: model.predict(obs, deterministic=True)[0]


def test_sb3_model_predict_and_numpy_policy_play_as_the_policy(model):
    import thrust_export

    expected = _play(_greedy(model))
    numpy_policy = thrust_export.to_numpy_policy(model)
    assert not callable(numpy_policy)
    for opponent in (
        functools.partial(model.predict, deterministic=True),  # returns (actions, None)
        model,  # an object with predict: played deterministically
        numpy_policy,
    ):
        for ours, theirs in zip(_play(opponent), expected, strict=True):
            np.testing.assert_array_equal(ours, theirs)
    # A stochastic predict plays too (its answer is a tuple as well).
    _play(model.predict, steps=10)


def test_set_opponent_takes_the_same_kinds(model):
    import thrust_export

    venv = thrust_envs.vs_opponent(GAME, random_bot(0), 2, seed=0)
    venv.set_opponent(thrust_export.to_numpy_policy(model))
    venv.set_opponent(model.predict)
    with pytest.raises(TypeError, match="object with SB3's predict"):
        venv.set_opponent(42)


def test_recurrent_states_are_refused():
    venv = thrust_envs.vs_opponent(
        GAME, lambda obs: (np.zeros(len(obs), dtype=np.int64), (np.zeros(1),)), 2, seed=0
    )
    venv.reset()
    with pytest.raises(TypeError, match="recurrent state"):
        venv.step(np.zeros(2, dtype=np.int64))
