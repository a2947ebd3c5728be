"""Thrust/Pong-v0: PettingZoo's own tests, the SB3 and vs-opponent views, bots, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

import thrust_envs
from thrust_envs import GameError, InvalidAction
from thrust_envs.multiagent import pong_v0
from thrust_envs.multiagent.pong import random_bot, tracker_bot

GAME = "Thrust/Pong-v0"


def test_pettingzoo_parallel_api():
    parallel_api_test(pong_v0.parallel_env(), num_cycles=1500)


def test_pettingzoo_parallel_seed():
    parallel_seed_test(pong_v0.parallel_env, num_cycles=300)


def test_pettingzoo_aec_api():
    api_test(pong_v0.env(), num_cycles=500)


def test_lookup_by_id():
    env = thrust_envs.make_parallel(GAME, points_to_win=2)
    assert env.possible_agents == ["player_0", "player_1"]
    assert env.params.points_to_win == 2
    aec = thrust_envs.make_aec(GAME)
    aec.reset(seed=0)
    assert aec.agent_selection == "player_0"
    with pytest.raises(ValueError, match="unknown multi-agent game"):
        thrust_envs.make_parallel("Thrust/Tennis-v0")


def test_scores_rewards_and_game_end():
    env = pong_v0.parallel_env(points_to_win=2)
    env.reset(seed=3)
    totals = {"player_0": 0.0, "player_1": 0.0}
    steps = 0
    while env.agents:
        actions = {a: 0 for a in env.agents}  # nobody moves: points come quickly
        _, rewards, terms, truncs, _ = env.step(actions)
        steps += 1
        assert rewards["player_0"] == -rewards["player_1"]
        for a, r in rewards.items():
            totals[a] += r
    assert all(terms.values()) and not any(truncs.values())
    state = env.state()
    assert max(state[7], state[8]) == 2.0  # S0, S1: the winner reached points_to_win
    assert totals["player_0"] == state[7] - state[8] == -totals["player_1"]


def test_truncation_at_max_steps():
    env = pong_v0.parallel_env(max_steps=10)
    env.reset(seed=0)
    for _ in range(9):
        _, _, terms, truncs, _ = env.step({a: 0 for a in env.agents})
        assert not any(truncs.values())
    _, _, terms, truncs, _ = env.step({a: 0 for a in env.agents})
    assert all(truncs.values()) and not any(terms.values()) and env.agents == []


def test_observations_are_mirrored():
    """Each player sees the court from its own side, the scores included (own first): checked
    through a whole game, whose points make the two scores differ."""
    env = pong_v0.parallel_env(points_to_win=3)
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    scores_differed = False
    while True:
        a, b = obs["player_0"], obs["player_1"]
        assert a[0] == b[1] and a[1] == b[0]
        assert np.isclose(a[2], 1.0 - b[2]) and a[3] == b[3]
        assert np.isclose(a[4], -b[4]) and a[5] == b[5]
        assert a[6] == b[7] and a[7] == b[6], (a, b)
        state = env.state()  # S0, S1 at 7, 8: player_0's points, then player_1's
        assert (a[6], a[7]) == (np.float32(state[7] / 3), np.float32(state[8] / 3))
        scores_differed |= bool(a[6] != a[7])
        if not env.agents:
            break
        obs, *_ = env.step({agent: int(rng.integers(3)) for agent in env.agents})
    assert scores_differed


@pytest.mark.parametrize(
    ("actions", "error", "match"),
    [
        ({"player_0": 3, "player_1": 0}, InvalidAction, "agent 'player_0'.*outside"),
        ({"player_0": 0}, InvalidAction, r"missing actions.*player_1"),
        ({"player_0": 0, "player_1": 0, "ghost": 1}, InvalidAction, "unknown agent 'ghost'"),
        ({"player_0": 0.5, "player_1": 0}, InvalidAction, "player_0.*integer"),
    ],
)
def test_bad_actions_leave_the_game_unchanged(actions, error, match):
    env = pong_v0.parallel_env()
    env.reset(seed=0)
    before = env.state()
    with pytest.raises(error, match=match):
        env.step(actions)
    np.testing.assert_array_equal(env.state(), before)


def test_stepping_a_finished_game_is_an_error():
    env = pong_v0.parallel_env(max_steps=1)
    with pytest.raises(GameError, match="reset"):
        env.step({"player_0": 0, "player_1": 0})
    env.reset(seed=0)
    env.step({"player_0": 0, "player_1": 0})
    with pytest.raises(GameError, match="over"):
        env.step({"player_0": 0, "player_1": 0})


def test_render_rgb_array():
    env = pong_v0.parallel_env(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8


def _play(venv, policy, games):
    obs = venv.reset()
    results = []
    while len(results) < games:
        obs, _, dones, infos = venv.step(policy(obs))
        results += [infos[i]["episode"]["r"] for i in np.flatnonzero(dones)]
    return np.array(results)


def test_scripted_ladder_orders_random_slow_fast():
    fast_vs_slow = _play(
        thrust_envs.vs_opponent(GAME, tracker_bot(0.5), 64, seed=0), tracker_bot(1.0), 64
    )
    slow_vs_random = _play(
        thrust_envs.vs_opponent(GAME, random_bot(0), 64, seed=0), tracker_bot(0.5), 64
    )
    assert np.mean(fast_vs_slow > 0) > np.mean(fast_vs_slow < 0)
    assert np.mean(slow_vs_random > 0) > 0.9


def test_vs_opponent_seats_alternate_and_swaps_wait_for_episode_ends():
    venv = thrust_envs.vs_opponent(
        GAME, random_bot(1), 8, seat="alternate", seed=0, points_to_win=1
    )
    venv.reset()
    assert venv.seats.tolist() == [0, 1] * 4
    venv.set_opponent(tracker_bot(1.0))
    assert venv.opponents.tolist() == [0] * 8  # nobody switches mid-episode
    seen_switch = np.zeros(8, dtype=bool)
    for _ in range(3000):
        before = venv.opponents
        _, _, dones, infos = venv.step(np.zeros(8, dtype=np.int64))
        after = venv.opponents
        changed = after != before
        assert np.all(dones[changed])  # only games whose episode just ended switch
        for i in np.flatnonzero(dones):
            assert infos[i]["opponent"] == before[i]
        seen_switch |= changed
        if seen_switch.all():
            break
    assert seen_switch.all()


@pytest.mark.parametrize("seat", ["alternate", "random", 1])
def test_vs_opponent_reset_with_the_same_seed_replays_a_fresh_view(seat):
    """A reset starts every game over, its seats included: after many episodes (the seats
    moved on), ``seed(0)`` and ``reset()`` give what a fresh view seeded 0 gives."""

    def play(venv, steps):
        rng = np.random.default_rng(3)
        out = [venv.reset(), venv.seats]
        for _ in range(steps):
            out.extend(venv.step(rng.integers(0, 3, 4))[:3])
        return out

    def fresh():
        return thrust_envs.vs_opponent(
            GAME, tracker_bot(0.5), 4, seat=seat, seed=0, points_to_win=1
        )

    used = fresh()
    play(used, 300)
    if seat != 1:  # the seats moved on (300 steps: alternate [1 0 0 0])
        assert not np.array_equal(used.seats, fresh().seats)
    used.seed(0)
    for mine, theirs in zip(play(used, 200), play(fresh(), 200), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_vs_opponent_each_game_plays_its_own_opponent_while_they_switch():
    """Before, during and after a swap, every game's other seat gets the actions of the
    opponent that game plays (one opponent for all, then two at once, then one again)."""

    def constant(action):
        return lambda obs: np.full(len(obs), action, dtype=np.int64)

    n = 8
    venv = thrust_envs.vs_opponent(GAME, constant(1), n, seat="alternate", seed=0, points_to_win=1)
    venv.reset()
    venv.set_opponent(constant(2))
    games, phases = np.arange(n), set()
    for _ in range(3000):
        opponents = venv.opponents
        venv.step_async(np.zeros(n, dtype=np.int64))
        other_seat = 1 - venv.seats
        played = venv._game.actions[games, other_seat].reshape(n)
        np.testing.assert_array_equal(played, np.where(opponents == 0, 1, 2))
        phases.add(len(set(opponents.tolist())))
        venv.step_wait()
        if phases == {1, 2} and (venv.opponents == 1).all():
            break
    assert phases == {1, 2} and (venv.opponents == 1).all()


def test_vs_opponent_validates_the_opponent():
    with pytest.raises(TypeError, match="callable"):
        thrust_envs.vs_opponent(GAME, "tracker", 4)
    venv = thrust_envs.vs_opponent(GAME, lambda obs: np.zeros(3, dtype=np.int64), 4, seed=0)
    venv.reset()
    with pytest.raises(InvalidAction, match="opponent returned actions of shape"):
        venv.step(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="seat must be"):
        thrust_envs.vs_opponent(GAME, random_bot(0), 4, seat=5)


def test_vs_opponent_is_reproducible():
    def run(seed):
        venv = thrust_envs.vs_opponent(GAME, tracker_bot(0.5), 16, seed=seed)
        obs = [venv.reset()]
        bot = tracker_bot(1.0)
        for _ in range(300):
            obs.append(venv.step(bot(obs[-1]))[0])
        return np.stack(obs)

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))


def test_shared_sb3_vec_env_rows_are_game_agent_pairs():
    from stable_baselines3 import PPO

    from thrust_envs.sb3 import make_vec_env

    venv = make_vec_env(GAME, 4, seed=0, points_to_win=1)
    assert venv.num_envs == 8
    obs = venv.reset()
    assert obs.shape == (8, 8)
    seen_done = False
    for _ in range(400):
        obs, rewards, dones, infos = venv.step(np.random.default_rng(0).integers(0, 3, 8))
        for i in np.flatnonzero(dones):
            seen_done = True
            assert "terminal_observation" in infos[i] and "episode" in infos[i]
            partner = i ^ 1  # the other agent of the same game ends too
            assert dones[partner]
            assert infos[i]["episode"]["r"] == -infos[partner]["episode"]["r"]
    assert seen_done
    PPO("MlpPolicy", venv, n_steps=16, batch_size=64, n_epochs=1, device="cpu", seed=0).learn(128)


def test_supersuit_pipeline_works():
    import supersuit as ss

    env = pong_v0.parallel_env(points_to_win=1)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, 2, num_cpus=0, base_class="stable_baselines3")
    obs = venv.reset()
    assert obs.shape == (4, 8)
    obs, rewards, dones, infos = venv.step(np.zeros(4, dtype=np.int64))
    assert rewards.shape == (4,)


def test_same_seed_same_games_whatever_the_thread_count(monkeypatch):
    from thrust_envs.core import games

    monkeypatch.setattr(games, "PARALLEL_MIN_GAMES", 1)

    def run(threads):
        venv = thrust_envs.vs_opponent(GAME, tracker_bot(0.5), 300, seed=9, num_threads=threads)
        obs = [venv.reset()]
        bot = tracker_bot(1.0)
        for _ in range(200):
            obs.append(venv.step(bot(obs[-1]))[0])
        return np.stack(obs)

    np.testing.assert_array_equal(run(1), run(2))


def test_game_vec_envs_answer_sb3_queries():
    from stable_baselines3.common.monitor import Monitor

    from thrust_envs.sb3 import make_vec_env

    for venv in (
        make_vec_env(GAME, 2, points_to_win=3),
        thrust_envs.vs_opponent(GAME, random_bot(0), 2, points_to_win=3),
    ):
        assert venv.get_attr("points_to_win") == [3] * venv.num_envs
        assert venv.get_attr("render_mode", indices=0) == [None]
        assert venv.env_is_wrapped(Monitor) == [True] * venv.num_envs
        with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
            venv.get_attr("nonsense")
        with pytest.raises(AttributeError, match="fixed at construction"):
            venv.set_attr("points_to_win", 9)


def test_a_ball_that_would_slow_at_each_return_is_refused():
    """ball_speedup below 1 slowed the ball at every return, towards 0: two good trackers
    then played one point forever."""
    from thrust_envs import ParamError

    with pytest.raises(ParamError, match="ball_speedup"):
        pong_v0.parallel_env(ball_speedup=0.5)
    pong_v0.parallel_env(ball_speedup=1.0).reset(seed=0)  # a constant speed is fine


def test_tracker_arguments_are_checked_and_named():
    for kwargs, match in [
        ({"reaction": 0.0}, "reaction must be in"),
        ({"aim": -1.0}, "aim must be in"),
        ({"dead_zone": -0.1}, "dead_zone must be in"),
        ({"dead_zone": float("nan")}, "dead_zone must be in"),
    ]:
        with pytest.raises(ValueError, match=match):
            tracker_bot(**kwargs)
    assert tracker_bot(0.5).__name__ == "tracker:0.5"
    assert tracker_bot(0.5, aim=0.1).__name__ == "tracker:0.5,aim=0.1,dead_zone=0.02"
