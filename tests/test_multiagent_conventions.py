"""PettingZoo and Gymnasium conventions every game follows: PettingZoo's render_test
(``render_mode="human"`` included, headless), ``state_space`` holding ``state()`` through
PettingZoo's state test, and ``gym.make`` of a game's ID pointing to the game's views."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.test import render_test
from pettingzoo.test.state_test import test_state as pettingzoo_state_test

import thrust_envs
from thrust_envs.multiagent import bucket_brigade_v0, pong_v0, snake_v0

MODULES = {"pong": pong_v0, "snake": snake_v0, "bucket_brigade": bucket_brigade_v0}
GAME_IDS = ["Thrust/Pong-v0", "Thrust/Snake-v0", "Thrust/BucketBrigade-v0"]


@pytest.fixture
def headless(monkeypatch):
    """No window: SDL's dummy video driver (without a display SDL picks "offscreen" itself)."""
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_pettingzoo_render_test_passes(name, headless):
    render_test(MODULES[name].env)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_human_mode_shows_the_rgb_frame(name, headless):
    import pygame

    env = MODULES[name].parallel_env(render_mode="human")
    frames = MODULES[name].parallel_env(render_mode="rgb_array")
    env.reset(seed=4)
    frames.reset(seed=4)
    assert env.render() is None
    shown = pygame.surfarray.array3d(pygame.display.get_surface()).swapaxes(0, 1)
    np.testing.assert_array_equal(shown, frames.render())
    pickle.loads(pickle.dumps(env._window)).close()  # the window pickles as its settings
    env.close()
    assert pygame.display.get_surface() is None


def test_unknown_render_mode_is_rejected():
    with pytest.raises(ValueError, match=r"render_mode must be None or one of \['human'"):
        pong_v0.parallel_env(render_mode="ansi")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_state_space_contains_every_state(name):
    env = MODULES[name].parallel_env()
    assert isinstance(env.state_space, gym.spaces.Box)
    env.reset(seed=0)
    assert env.state_space.shape == env.state().shape
    assert env.state_space.contains(env.state())
    aec = MODULES[name].env()
    assert aec.state_space == env.state_space  # parallel_to_aec passes it on
    pettingzoo_state_test(aec, num_cycles=60, seed=0)  # asserts contains() after every step


@pytest.mark.parametrize("game_id", GAME_IDS)
def test_gym_make_of_a_game_points_to_its_views(game_id):
    with pytest.raises(gym.error.Error, match="multi-agent PettingZoo game") as caught:
        gym.make(game_id)
    message = str(caught.value)
    assert f"thrust_envs.make_parallel({game_id!r})" in message
    assert "thrust_envs.sb3.make_vec_env" in message and "_v0" in message
    with pytest.raises(gym.error.Error, match="multi-agent PettingZoo game"):
        gym.make_vec(game_id, num_envs=2)
    assert game_id not in thrust_envs.known_ids()  # the single-agent IDs stay as they were


def test_uniform_random_bot_draws_in_range_from_its_seed_and_refuses_bad_counts():
    from thrust_envs.core.games import uniform_random_bot

    obs = np.zeros((500, 3), dtype=np.float32)
    actions = uniform_random_bot(4, seed=7)(obs)
    assert actions.shape == (500,) and actions.dtype == np.int64
    assert set(actions.tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(actions, uniform_random_bot(4, seed=7)(obs))
    for bad in (0, -2, 2.0, True, "3"):
        with pytest.raises(ValueError, match="num_actions must be a positive int"):
            uniform_random_bot(bad)
