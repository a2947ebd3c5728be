"""Envs and games pickle at any point and the copy continues exactly as the original
(issue 19 item 3): state, random streams, episode statistics, autoreset flags, parameters."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from env_ids import ALL_IDS
from gymnasium.vector import AutoresetMode

import thrust_envs
from thrust_envs.registration import game_definitions

POINTS = (None, 0, 1, 37)  # pickled: before reset, right after it, after 1 and 37 steps
STEPS = 60  # continued for this many steps after the pickling point (episodes end on the way)


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            if key != "t":  # SB3's episode info: wall-clock seconds since the env was made
                _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray) and a.dtype == object:
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)
        assert type(a) is type(b)


def _run(env, actions, step):
    return [step(env, a) for a in actions]


def _check(make, reset, step, sample):
    """Pickle at each point, then continue the original and the copy with the same actions."""
    for point in POINTS:
        env = make()
        actions = sample(env, point or 0, STEPS)
        if point is not None:
            reset(env)
            for a in actions[:point]:
                step(env, a)
        copy = pickle.loads(pickle.dumps(env))
        if point is None:
            reset(env)
            reset(copy)
        rest = actions[point or 0 :]
        _assert_same(_run(env, rest, step), _run(copy, rest, step))


def _space_sampler(space_of):
    def sample(env, point, steps):
        space = space_of(env)
        space.seed(7)
        return [space.sample() for _ in range(point + steps)]

    return sample


def _single_step(env, action):
    out = env.step(action)
    if out[2] or out[3]:
        out = (*out, env.reset())  # unseeded: draws from the pickled np_random
    return out


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_single_env_pickles_at_any_point(env_id):
    _check(
        lambda: gym.make(env_id, max_episode_steps=25),
        lambda env: env.reset(seed=3),
        _single_step,
        _space_sampler(lambda env: env.action_space),
    )


@pytest.mark.parametrize("env_id", ALL_IDS)
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_pickles_at_any_point(env_id, mode):
    _check(
        lambda: gym.make_vec(env_id, num_envs=3, max_episode_steps=25, autoreset_mode=mode),
        lambda env: env.reset(seed=3),
        lambda env, a: env.step(a),
        _space_sampler(lambda env: env.action_space),
    )


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sb3_vec_env_pickles_at_any_point(env_id):
    sb3 = pytest.importorskip("thrust_envs.sb3")

    def step(venv, actions):
        venv.step_async(actions)
        return venv.step_wait()

    def sample(venv, point, steps):
        space = venv.action_space
        space.seed(7)
        return [
            np.stack([space.sample() for _ in range(venv.num_envs)]) for _ in range(point + steps)
        ]

    _check(
        lambda: sb3.make_vec_env(env_id, 3, seed=3, max_episode_steps=25),
        lambda venv: venv.reset(),
        step,
        sample,
    )


@pytest.mark.parametrize("game_id", sorted(game_definitions()))
def test_pettingzoo_game_pickles_at_any_point(game_id):
    def step(game, actions):
        live = {a: actions[a] for a in game.agents}
        if not live:
            return game.reset(seed=5)
        return game.step(live)

    def sample(game, point, steps):
        spaces = {a: game.action_space(a) for a in game.possible_agents}
        for k, space in enumerate(spaces.values()):
            space.seed(k)
        return [{a: s.sample() for a, s in spaces.items()} for _ in range(point + steps)]

    _check(lambda: thrust_envs.make_parallel(game_id), lambda g: g.reset(seed=5), step, sample)


def test_pickled_env_keeps_its_parameters_and_time_limit():
    env = gym.make("Thrust/CartPole-v1", gravity=12.0, max_episode_steps=7)
    env.reset(seed=0)
    copy = pickle.loads(pickle.dumps(env))
    assert copy.unwrapped.params == env.unwrapped.params
    assert copy.unwrapped.params.gravity == 12.0
    for _ in range(6):
        copy.step(0)
    _, _, terminated, truncated, _ = copy.step(0)
    assert truncated or terminated


@pytest.mark.parametrize("game_id", sorted(game_definitions()))
def test_aec_game_pickles_mid_game(game_id):
    def action(env, agent, fill):
        if env.terminations[agent] or env.truncations[agent]:
            return None
        return np.full(env.action_space(agent).shape, fill, dtype=np.int64)

    aec = thrust_envs.make_aec(game_id)
    aec.reset(seed=2)
    for agent in aec.agent_iter(max_iter=7):
        aec.step(action(aec, agent, 0))
    copy = pickle.loads(pickle.dumps(aec))
    pairs = zip(aec.agent_iter(max_iter=20), copy.agent_iter(max_iter=20), strict=True)
    for agent, copy_agent in pairs:
        assert agent == copy_agent
        _assert_same(aec.last(), copy.last())
        aec.step(action(aec, agent, 1))
        copy.step(action(copy, agent, 1))
