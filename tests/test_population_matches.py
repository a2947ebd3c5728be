"""Matches through batched vs-opponent VecEnvs (the toy game of population_helpers), bots, specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces
from population_helpers import GAMES, bt_probability, constant, vs_opponent

from thrust_population.matches import (
    GameInfo,
    GameUnavailable,
    check_game,
    load_env_factory,
    play_match,
    probe_game,
    replay_match,
)
from thrust_population.players import (
    RandomBot,
    SpecError,
    bot_names,
    make_bot,
    parse_spec,
    policy_from_model,
    register_bot,
    unregister_bot,
)

DUEL = probe_game("Toy/Duel-v0", vs_opponent)
LONG = probe_game("Toy/LongDuel-v0", vs_opponent)


def level(k: int) -> Any:
    return make_bot(f"level:{k}", DUEL)


def test_a_match_plays_exactly_the_games_asked_with_balanced_seats():
    result = play_match(
        "Toy/LongDuel-v0", level(2), level(2), 100, n_envs=20, seed=3, env_factory=vs_opponent
    )
    assert result.games == 100 and len(result.outcomes) == 100
    assert result.wins + result.draws + result.losses == 100
    assert result.n_envs == 20 and result.seat == "alternate"
    assert sum(c.isupper() for c in result.outcomes) == 50  # seat 0 in even rows
    assert result.draws > 0  # the long duel truncates undecided games
    assert result.points == result.wins + 0.5 * result.draws
    assert result.score == pytest.approx(result.wins - result.losses)


@pytest.mark.parametrize("seat, upper", [(0, 30), (1, 0)])
def test_fixed_seats(seat, upper):
    result = play_match(
        "Toy/Duel-v0", level(1), level(3), 30, n_envs=8, seat=seat, env_factory=vs_opponent
    )
    assert sum(c.isupper() for c in result.outcomes) == upper


def test_uneven_rows_follow_evaluate_policy_split():
    # row i of n_envs plays (games + i) // n_envs games: 10 games on 4 rows -> 2, 2, 3, 3
    seen: list[np.ndarray] = []

    def factory(env_id, opponent, n_envs, seat=0, seed=None):
        venv = vs_opponent(env_id, opponent, n_envs, seat, seed)
        step_wait = venv.step_wait

        def recording_step_wait():
            out = step_wait()
            seen.append(out[2].copy())
            return out

        venv.step_wait = recording_step_wait
        return venv

    result = play_match(
        "Toy/Duel-v0", level(0), level(0), 10, n_envs=4, seat=0, env_factory=factory
    )
    assert result.games == 10 and result.steps == 3  # one-step games: rows 2 and 3 need 3
    assert np.sum(seen, axis=0).tolist() == [3, 3, 3, 3]  # extra games finish but don't count


def test_fewer_games_than_envs_use_fewer_envs():
    result = play_match("Toy/Duel-v0", level(0), level(1), 5, n_envs=64, env_factory=vs_opponent)
    assert result.n_envs == 5 and result.games == 5


def test_results_follow_the_bradley_terry_probabilities():
    games = 4000
    result = play_match(
        "Toy/Duel-v0", level(3), level(1), games, n_envs=100, seed=11, env_factory=vs_opponent
    )
    p = bt_probability(450.0, 150.0)
    assert abs(result.wins - games * p) <= 5 * np.sqrt(games * p * (1 - p))
    assert result.draws == 0


def test_seats_reach_the_game():
    # LongDuel gives seat 0 a 60 Elo bonus: the same player does better from seat 0
    result = play_match(
        "Toy/LongDuel-v0", level(2), level(2), 6000, n_envs=200, seed=5, env_factory=vs_opponent
    )
    seat0 = [c for c in result.outcomes if c.isupper()]
    seat1 = [c for c in result.outcomes if c.islower()]
    assert seat0.count("W") - seat0.count("L") > 150
    assert seat1.count("l") - seat1.count("w") > 150


def test_same_seed_same_match_and_replay():
    kwargs = {"n_envs": 16, "seed": 42, "env_factory": vs_opponent}
    first = play_match("Toy/LongDuel-v0", level(1), level(3), 200, **kwargs)
    second = play_match("Toy/LongDuel-v0", level(1), level(3), 200, **kwargs)
    assert first == second
    assert replay_match(first, level(1), level(3), vs_opponent) == first
    other = play_match("Toy/LongDuel-v0", level(1), level(3), 200, **{**kwargs, "seed": 43})
    assert other.outcomes != first.outcomes


def test_a_random_player_is_reproducible_when_seeded():
    def play(seed: int) -> str:
        bot = make_bot("random", LONG, seed)
        return play_match(
            "Toy/LongDuel-v0", bot, level(2), 100, n_envs=10, seed=1, env_factory=vs_opponent
        ).outcomes

    assert play(7) == play(7)
    assert play(7) != play(8)


def test_an_env_without_episode_info_is_rejected():
    def factory(env_id, opponent, n_envs, seat=0, seed=None):
        venv = vs_opponent(env_id, opponent, n_envs, seat, seed)
        step_wait = venv.step_wait

        def step_wait_without_episode():
            obs, rewards, dones, infos = step_wait()
            return obs, rewards, dones, [{} for _ in infos]

        venv.step_wait = step_wait_without_episode
        return venv

    with pytest.raises(ValueError, match="episode"):
        play_match("Toy/Duel-v0", level(0), level(1), 4, env_factory=factory)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"games": 0}, "games"),
        ({"n_envs": 0}, "n_envs"),
        ({"seat": 2}, "seat"),
        ({"seat": True}, "seat"),
        ({"seed": -1}, "seed"),
    ],
)
def test_play_match_rejects_bad_arguments(kwargs, match):
    arguments = {"games": 4, "env_factory": vs_opponent, **kwargs}
    games = arguments.pop("games")
    with pytest.raises(ValueError, match=match):
        play_match("Toy/Duel-v0", level(0), level(1), games, **arguments)


def test_game_checks():
    check_game("Toy/Duel-v0", vs_opponent)
    with pytest.raises(GameUnavailable, match="unknown environment"):
        check_game("Toy/Nope-v0", vs_opponent)
    with pytest.raises(GameUnavailable, match="two-player"):
        probe_game("Toy/Solo-v0", vs_opponent)
    assert DUEL.action_space == spaces.Discrete(len(GAMES["Toy/Duel-v0"]["strengths"]))
    # the default factory: Gymnasium's registry, and thrust_envs' two-player games
    with pytest.raises(GameUnavailable, match="unknown environment"):
        check_game("NoSuchGame-v0")
    with pytest.raises(GameUnavailable, match="two-player"):
        check_game("Thrust/CartPole-v1")


def test_load_env_factory():
    assert load_env_factory("population_helpers:vs_opponent") is vs_opponent
    for bad in ("population_helpers", "no_such_module_xyz:f", "population_helpers:GAMES"):
        with pytest.raises(GameUnavailable):
            load_env_factory(bad)


# -- bots and specs -------------------------------------------------------------------------------


def test_bot_registry():
    assert {"random", "level", "rock"} <= set(bot_names())
    assert "level" in bot_names("Toy/Duel-v0") and "level" not in bot_names("Toy/RPS-v0")
    obs = np.zeros((3, 4), dtype=np.float32)
    assert make_bot("level:3", DUEL)(obs).tolist() == [3, 3, 3]
    with pytest.raises(SpecError, match="unknown bot"):
        make_bot("nope", DUEL)
    with pytest.raises(SpecError, match="cannot play"):
        make_bot("rock", DUEL)
    with pytest.raises(SpecError, match="bad bot spec"):
        make_bot("level:9", DUEL)
    with pytest.raises(SpecError, match="bad bot spec"):
        make_bot("random:1", DUEL)


def test_register_and_unregister_a_bot():
    register_bot("always-one", lambda arg, game, seed: constant(1))
    try:
        assert make_bot("always-one", DUEL)(np.zeros((2, 4))).tolist() == [1, 1]
        with pytest.raises(ValueError, match="already registered"):
            register_bot("always-one", lambda arg, game, seed: constant(1))
        with pytest.raises(ValueError, match="bot names"):
            register_bot("bad name", lambda arg, game, seed: constant(1))
    finally:
        unregister_bot("always-one")
    assert "always-one" not in bot_names()


@pytest.mark.parametrize(
    "space",
    [
        spaces.Discrete(3, start=2),
        spaces.MultiDiscrete([2, 5]),
        spaces.Box(-1.0, 2.0, (2,), np.float32),
    ],
)
def test_random_bot_samples_from_the_action_space(space):
    bot = RandomBot(space, seed=0)
    actions = bot(np.zeros((500, 4)))
    assert len(actions) == 500
    assert all(space.contains(np.asarray(a, dtype=space.dtype)) for a in actions)
    assert len({tuple(np.atleast_1d(a)) for a in actions}) > 1


def test_random_bot_rejects_unbounded_boxes():
    with pytest.raises(ValueError, match="bounded"):
        RandomBot(spaces.Box(-np.inf, np.inf, (1,)))


def test_parse_spec(tmp_path):
    assert parse_spec("level:2", DUEL) == parse_spec("level:2")
    spec = parse_spec("strong=level:4", DUEL)
    assert (spec.name, spec.kind, spec.spec) == ("strong", "bot", "level:4")
    policy = tmp_path / "champion.npz"
    policy.write_bytes(b"not checked here")
    spec = parse_spec(str(policy))
    assert (spec.name, spec.kind) == ("champion", "numpy")
    assert parse_spec(f"c2={policy}").name == "c2"
    for bad, match in [
        ("", "empty"),
        ("=level:1", "empty member name"),
        ("bogus", "unknown player"),
        (str(tmp_path / "missing.npz"), "no such policy file"),
        ("level:99", "bad bot spec"),
        ("bad name=level:1", "bad member name"),
    ]:
        with pytest.raises(SpecError, match=match):
            parse_spec(bad, DUEL)


def test_policy_from_model():
    class Model:
        def predict(self, obs, deterministic=False):
            assert deterministic
            return np.ones(len(obs), dtype=np.int64), None

    assert policy_from_model(Model())(np.zeros((2, 4))).tolist() == [1, 1]
    assert policy_from_model(constant(2))(np.zeros((2, 4))).tolist() == [2, 2]
    with pytest.raises(TypeError):
        policy_from_model(3)


def test_game_info_is_what_bots_see():
    seen: list[GameInfo] = []
    register_bot("spy", lambda arg, game, seed: seen.append(game) or constant(0), replace=True)
    try:
        make_bot("spy", LONG, 5)
    finally:
        unregister_bot("spy")
    assert seen[0].env_id == "Toy/LongDuel-v0" and seen[0].action_space == spaces.Discrete(5)
