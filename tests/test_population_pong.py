"""On thrust_envs' Pong (the default env factory, thrust_envs.vs_opponent): the scripted ladder
orders random < slow tracker < fast tracker, through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from thrust_population.cli import main
from thrust_population.matches import GameUnavailable, check_game, play_match, probe_game
from thrust_population.players import make_bot, parse_spec
from thrust_population.store import Store

PONG = "Thrust/Pong-v0"


def test_pong_is_a_two_player_game_with_its_own_bots():
    check_game(PONG)
    game = probe_game(PONG)
    assert {"random", "tracker"} <= set(game.bots)
    assert parse_spec("tracker:0.5", game).kind == "bot"
    obs = np.zeros((4, game.observation_space.shape[0]), dtype=np.float32)
    assert make_bot("tracker:1.0", game)(obs).shape == (4,)
    with pytest.raises(ValueError, match="reaction"):
        make_bot("tracker:1.5", game)
    with pytest.raises(GameUnavailable, match="two-player"):
        check_game("Thrust/CartPole-v1")


def test_pong_matches_record_seats_and_replay():
    game = probe_game(PONG)
    kwargs = {"n_envs": 8, "seed": 4}
    first = play_match(
        PONG, make_bot("tracker:0.5", game), make_bot("random", game, 1), 16, **kwargs
    )
    assert first.games == 16 and first.wins >= 14  # random rarely scores against a tracker
    assert sum(c.isupper() for c in first.outcomes) == 8  # seats alternate
    again = play_match(
        PONG, make_bot("tracker:0.5", game), make_bot("random", game, 1), 16, **kwargs
    )
    assert again == first


def test_scripted_pong_ladder(tmp_path, capsys):
    out = tmp_path / "pong"
    args = [
        "tournament",
        "--env",
        PONG,
        "--players",
        "random,tracker:0.5,tracker:1.0",
        "--games",
        "192",
        "--games-per-match",
        "32",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["ladder", str(out), "--json"]) == 0
    ladder = json.loads(capsys.readouterr().out)
    order = ["tracker:1.0", "tracker:0.5", "random"]
    assert [row["name"] for row in ladder["rows"]] == order  # by Bradley–Terry
    elo = {row["name"]: row["elo"] for row in ladder["rows"]}
    assert elo["random"] < elo["tracker:0.5"] < elo["tracker:1.0"]
    names = ladder["names"]
    fast, slow = names.index("tracker:1.0"), names.index("tracker:0.5")
    assert ladder["win_rates"][fast][slow] > 0.6
    with Store.open(out) as store:
        assert store.verify() == [] and store.n_games() == 192
