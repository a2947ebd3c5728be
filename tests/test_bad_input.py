"""Bad input gets a clear error naming the env and what was expected; state stays intact."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ClosedEnvironmentError, ResetNeeded

import thrust_envs
from thrust_envs import InvalidAction, ParamError

ENV_ID = "Thrust/CartPole-v1"


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (2, r"action 2 is outside Discrete\(2\)"),
        (-1, "outside"),
        (0.5, "integer action"),
        (True, "integer action"),
        ("1", "integer action"),
        (np.array([1]), r"shape \(1,\)"),
        (np.array(1.0), "dtype float64"),
        (None, "integer action"),
    ],
)
def test_single_env_rejects_bad_actions_without_changing_state(action, match):
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    before = env.unwrapped.get_state()
    with pytest.raises(InvalidAction, match=match) as error:
        env.unwrapped.step(action)
    assert ENV_ID in str(error.value)
    np.testing.assert_array_equal(env.unwrapped.get_state(), before)
    env.unwrapped.step(np.int64(1))  # still usable
    env.unwrapped.step(np.array(0))


def test_invalid_action_is_a_value_error():
    assert issubclass(InvalidAction, ValueError)


def test_step_before_reset_and_after_close():
    env = gym.make(ENV_ID).unwrapped
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(0)
    env.reset(seed=0)
    env.close()
    with pytest.raises(ClosedEnvironmentError):
        env.step(0)
    with pytest.raises(ClosedEnvironmentError):
        env.reset()
    vec = gym.make_vec(ENV_ID, num_envs=2)
    with pytest.raises(ResetNeeded):
        vec.step(np.zeros(2, dtype=np.int64))
    vec.reset(seed=0)
    vec.close()
    with pytest.raises(ClosedEnvironmentError):
        vec.step(np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.zeros(3, dtype=np.int64), r"expected actions of shape \(4,\)"),
        (np.zeros((4, 2), dtype=np.int64), r"shape \(4, 2\)"),
        (np.zeros(4), "must be integers, got dtype float64"),
        (np.array(["a"] * 4), "must be integers"),
        (np.array([0, 0, 0, 9]), "action 9 of environment 3 is outside"),
        ([0, 1], r"shape \(2,\)"),
    ],
)
def test_vector_env_rejects_bad_actions_without_changing_state(actions, match):
    vec = gym.make_vec(ENV_ID, num_envs=4)
    vec.reset(seed=0)
    before = vec.unwrapped.get_state()
    with pytest.raises(InvalidAction, match=match):
        vec.step(actions)
    np.testing.assert_array_equal(vec.unwrapped.get_state(), before)
    vec.step([0, 1, 0, 1])


def test_unknown_env_kwargs_name_the_env_and_the_valid_ones():
    with pytest.raises(TypeError, match=r"CartPole: unknown keyword argument\(s\) 'foo'.*gravity"):
        gym.make(ENV_ID, foo=1)
    with pytest.raises(TypeError, match="'foo'"):
        gym.make_vec(ENV_ID, num_envs=2, foo=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gravity": "strong"}, TypeError, "'gravity' must be a float"),
        ({"gravity": float("nan")}, ValueError, "must be finite"),
        ({"sutton_barto_reward": 1}, TypeError, "must be a bool"),
        ({"masscart": -1.0}, ParamError, "masscart and masspole must be > 0"),
        ({"reset_low": 0.1, "reset_high": 0.0}, ParamError, "reset_low"),
    ],
)
def test_bad_parameter_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make(ENV_ID, **kwargs)


def test_bad_vector_arguments():
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        gym.make_vec(ENV_ID, num_envs=0)
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec(ENV_ID, num_envs=2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="num_threads must be an int"):
        gym.make_vec(ENV_ID, num_envs=2, num_threads=10_000)
    with pytest.raises(ValueError, match="max_episode_steps must be a positive int"):
        gym.make_vec(ENV_ID, num_envs=2, max_episode_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        gym.make_vec(ENV_ID, num_envs=2, render_mode="human")
    vec = gym.make_vec(ENV_ID, num_envs=2)
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.ones(3, dtype=bool)})
    with pytest.raises(ValueError, match="expected 2 seeds"):
        vec.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        vec.reset(seed=-1)


def test_bad_states_are_rejected():
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        env.set_state(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        env.set_state(np.array([np.nan, 0, 0, 0, 0]))


def test_render_mode_is_checked():
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gym.make(ENV_ID, render_mode="ansi")
    # "human" is Gymnasium's HumanRendering wrapper over our rgb_array frames (needs pygame).
    human = gym.make(ENV_ID, render_mode="human")
    assert type(human).__name__ == "HumanRendering"


def test_unknown_ids_list_the_thrust_ids():
    assert "Thrust/CartPole-v1" in thrust_envs.known_ids()
    with pytest.raises(gym.error.Error):
        gym.make("Thrust/NoSuchEnv-v0")
