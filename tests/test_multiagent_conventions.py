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


def _first_two(env) -> tuple[str, str]:
    return env.possible_agents[0], env.possible_agents[1]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_aec_refuses_a_bad_action_at_its_agents_turn_and_changes_nothing(name):
    """PettingZoo's parallel_to_aec stores an action unchecked and steps at the last agent's
    turn: one bad action would be refused at another agent's call, forever. Thrust's AEC view
    refuses it at once; the same agent then acts, and the game goes on as if it never came."""
    env, twin = MODULES[name].env(), MODULES[name].env()
    env.reset(seed=3)
    twin.reset(seed=3)
    first = env.agent_selection
    bad = (
        99
        if isinstance(env.action_space(first), gym.spaces.Discrete)
        else [99] * len(env.action_space(first).nvec)
    )
    with pytest.raises(thrust_envs.InvalidAction, match=rf"agent '{first}' is outside"):
        env.step(bad)
    assert env.agent_selection == first
    with pytest.raises(thrust_envs.InvalidAction, match=r"must be an integer|must be integers"):
        env.step(None)  # a live agent's action may not be None
    for _ in range(3 * len(env.possible_agents)):
        if env.terminations[env.agent_selection] or env.truncations[env.agent_selection]:
            break
        action = env.action_space(env.agent_selection).sample(mask=None)
        env.step(action)
        twin.step(action)
    for agent in env.possible_agents:
        np.testing.assert_array_equal(env.observe(agent), twin.observe(agent))


def test_aec_refuses_an_action_for_a_done_agent():
    env = pong_v0.env(points_to_win=1, max_steps=1)
    env.reset(seed=0)
    for _ in env.possible_agents:
        env.step(0)
    assert env.truncations[env.agent_selection]
    with pytest.raises(thrust_envs.InvalidAction, match="is done; its action must be None"):
        env.step(0)
    env.step(None)  # PettingZoo's convention for a done agent


@pytest.mark.parametrize(
    "value", [2**63, np.uint64(2**64 - 1), np.array(2**64 - 1, dtype=np.uint64), -1]
)
def test_parallel_refuses_integers_beyond_the_space_as_given(value):
    env = pong_v0.parallel_env()
    env.reset(seed=0)
    state = env.state()
    with pytest.raises(
        thrust_envs.InvalidAction, match=rf"action {int(value)} of agent 'player_0'"
    ):
        env.step({"player_0": value, "player_1": 0})
    np.testing.assert_array_equal(env.state(), state)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_closed_game_refuses_every_call(name):
    env = MODULES[name].parallel_env(render_mode="rgb_array")
    observations, _ = env.reset(seed=0)
    env.close()
    env.close()  # twice is allowed
    actions = {agent: env.action_space(agent).sample() for agent in env.agents}
    for call, method in (
        (lambda: env.step(actions), "step"),
        (lambda: env.reset(seed=0), "reset"),
        (env.render, "render"),
        (env.state, "state"),
    ):
        with pytest.raises(thrust_envs.GameError, match=rf"{method}\(\) called after close\(\)"):
            call()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_spaces_are_one_object_per_agent(name):
    """PettingZoo's seed_test seeds each agent's action space with its own seed: seeding one
    must not reseed another's (they were one shared object)."""
    env = MODULES[name].parallel_env()
    a, b = _first_two(env)
    assert env.action_space(a) is env.action_space(a)  # the same object on every call
    assert env.action_space(a) is not env.action_space(b)
    assert env.observation_space(a) is not env.observation_space(b)
    assert env.action_space(a) == env.action_space(b)
    env.action_space(a).seed(1)
    alone = np.array([env.action_space(a).sample() for _ in range(8)])
    env.action_space(a).seed(1)
    env.action_space(b).seed(2)
    np.testing.assert_array_equal([env.action_space(a).sample() for _ in range(8)], alone)


def test_state_before_reset_and_unknown_agents_are_clear_errors():
    env = pong_v0.parallel_env()
    with pytest.raises(TypeError, match="options must be a dict or None, got list"):
        env.reset(seed=0, options=[1])
    with pytest.raises(thrust_envs.GameError, match=r"call reset\(\) before state\(\)"):
        env.state()
    for lookup in (env.observation_space, env.action_space):
        with pytest.raises(KeyError, match=r"unknown agent 'ghost'; agents are \['player_0'"):
            lookup("ghost")


def test_presets_are_keywords_of_every_view():
    from thrust_envs.sb3 import make_vec_env

    hard = bucket_brigade_v0.parallel_env("hard").params
    assert thrust_envs.make_parallel("Thrust/BucketBrigade-v0", preset="hard").params == hard
    aec = thrust_envs.make_aec("Thrust/BucketBrigade-v0", preset="hard")
    assert aec.unwrapped.params == hard
    assert make_vec_env("Thrust/BucketBrigade-v0", 2, preset="hard").params == hard
    easy = thrust_envs.make_parallel("Thrust/BucketBrigade-v0", preset="easy", num_agents=6)
    assert easy.params == bucket_brigade_v0.parallel_env("easy", num_agents=6).params
    assert easy.params.num_agents == 6  # the other keywords override the preset
    with pytest.raises(ValueError, match=r"unknown preset 'brutal'; presets are \['default'"):
        thrust_envs.make_parallel("Thrust/BucketBrigade-v0", preset="brutal")
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) 'preset'"):
        thrust_envs.make_parallel("Thrust/Pong-v0", preset="hard")  # Pong has no presets
