"""N-player games in thrust_population: placements, seating, Plackett–Luce ratings refitted from
the log, the Snake tournament through the CLI, and its bad input."""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from openskill.models import PlackettLuce

from thrust_population import ffa
from thrust_population.cli import main
from thrust_population.ffa import game_definition, placement, seat_range, seating
from thrust_population.placements import (
    FfaGame,
    PlacementConfig,
    PlacementLog,
    places_from_keys,
)
from thrust_population.store import DB_NAME, Store

SNAKE = "Thrust/Snake-v0"
BOTS = "greedy,random,g2=greedy,r2=random"


def snake_tournament(out: Path, *extra: str, games: str = "16", players: str = BOTS) -> list[str]:
    return [
        "tournament",
        "--env",
        SNAKE,
        "--players",
        players,
        "--games",
        games,
        "--out",
        str(out),
        "--n-envs",
        "8",
        "--no-progress",
        *extra,
    ]


def seat_rows(directory: Path) -> list[tuple]:
    with sqlite3.connect(directory / DB_NAME) as db:
        return db.execute(
            "SELECT g.seed, g.steps, s.seat, s.member, s.place, s.score FROM ffa_seats s "
            "JOIN ffa_games g ON s.game = g.id ORDER BY g.id, s.seat"
        ).fetchall()


# -- placements and seating -------------------------------------------------------------------


def test_places_share_the_best_place_of_a_tie() -> None:
    assert places_from_keys([3, 1, 3, 0]) == [1, 3, 1, 4]
    assert places_from_keys([5, 5, 5]) == [1, 1, 1]


def test_placement_is_the_order_of_elimination() -> None:
    # agents 0 and 3 died at step 7 (tie), agent 1 at step 9, agent 2 survived
    eliminated = np.array([7, 9, 0, 7])
    survived = np.array([False, False, True, False])
    assert placement(eliminated, survived, np.zeros(4)) == [3, 2, 1, 3]
    # survivors at the step limit: ranked by return, equal returns tie, above the eliminated
    survived = np.array([True, False, True, True])
    returns = np.array([2.0, 9.0, 5.0, 2.0])
    assert placement(eliminated, survived, returns) == [2, 4, 1, 2]


def test_seating_puts_every_player_equally_often_in_every_seat() -> None:
    players, seats, blocks = 5, 4, 6
    counts = Counter()
    for game in range(players * blocks):
        seated = seating(11, players, seats, game)
        assert len(set(seated)) == seats  # nobody sits twice in one game
        counts.update((player, seat) for seat, player in enumerate(seated))
    assert set(counts.values()) == {blocks}
    assert len(counts) == players * seats
    # the blocks are shuffled: not the same rotation every block
    assert seating(11, players, seats, 0) != seating(11, players, seats, players) or seating(
        11, players, seats, 1
    ) != seating(11, players, seats, players + 1)


def test_seating_and_placement_refuse_bad_arguments() -> None:
    # game 2.5 was seated as game 2, True as game 1
    for game, match in [(2.5, "game must be an int"), (True, "game must be an int"), (-1, ">= 0")]:
        with pytest.raises(ValueError, match=match):
            seating(11, 5, 4, game)
    with pytest.raises(ValueError, match="need at least 4 players"):
        seating(11, 3, 4, 0)
    # a missing eliminated step of a survivor went unnoticed
    with pytest.raises(ValueError, match="one length"):
        placement(np.array([7, 9]), np.array([False, True, True]), np.zeros(3))


def test_seat_range_reads_the_games_seat_parameter() -> None:
    low, high = seat_range(game_definition(SNAKE))
    assert low == 1 and high >= 8  # num_snakes >= 1 (a free-for-all needs 2)
    assert seat_range(game_definition("Thrust/Pong-v0")) == (2, 2)


def test_play_games_places_snakes_from_the_game(tmp_path: Path) -> None:
    definition = game_definition(SNAKE)
    params = ffa.game_params(definition, 4)
    from thrust_envs.multiagent.snake import greedy_bot, random_bot

    table = np.array([[0, 1, 0, 1], [1, 0, 1, 0]] * 4)
    results = ffa.play_games(definition, params, table, [greedy_bot(1), random_bot(2)], range(8))
    again = ffa.play_games(definition, params, table, [greedy_bot(1), random_bot(2)], range(8))
    assert results == again  # same seeds, same games
    for places, returns, steps in results:
        assert sorted(places)[0] == 1 and all(1 <= p <= 4 for p in places)
        assert 1 <= steps <= params.max_steps and len(returns) == 4


# -- ratings ------------------------------------------------------------------------------------


def _ffa_store(tmp_path: Path, names: list[str]) -> Store:
    meta = PlacementLog.run_meta(PlacementConfig(), 3)
    store = Store.create(tmp_path / "run", SNAKE, seed=3, extra_meta=meta)
    for name in names:
        store.add_member(name, "bot", name)
    PlacementLog(store).add_members(names)
    return store


def test_stored_ratings_equal_the_refit_and_openskill_replayed_in_order(tmp_path: Path) -> None:
    names = ["a", "b", "c", "d"]
    rng = np.random.default_rng(0)
    games = []
    for i in range(40):
        seated = [names[j] for j in rng.permutation(4)[:3]]
        keys = rng.integers(0, 3, size=3)  # ties happen
        games.append(FfaGame(tuple(seated), tuple(places_from_keys(keys)), (0.0,) * 3, i, 10))
    with _ffa_store(tmp_path, names) as store:
        log = PlacementLog(store)
        for start in range(0, 40, 7):  # batches of several games, each one transaction
            log.record_games(games[start : start + 7])
        stored = log.ratings()
        assert log.refit() == stored
        assert log.verify() == []
        # an independent replay through openskill itself
        model = PlackettLuce()
        rating = {n: model.rating() for n in names}
        for game in games:
            teams = model.rate([[rating[n]] for n in game.members], ranks=list(game.places))
            rating.update({n: t[0] for n, t in zip(game.members, teams, strict=True)})
        assert stored == {n: (r.mu, r.sigma) for n, r in rating.items()}
        # the order matters: the refit is a replay in order, not of the counts
        model = PlackettLuce()
        shuffled = {n: model.rating() for n in names}
        for game in reversed(games):
            teams = model.rate([[shuffled[n]] for n in game.members], ranks=list(game.places))
            shuffled.update({n: t[0] for n, t in zip(game.members, teams, strict=True)})
        assert stored != {n: (r.mu, r.sigma) for n, r in shuffled.items()}
        assert [g.places for g in log.games()] == [g.places for g in games]


def test_the_log_through_a_generation_is_the_state_it_stood_in_then(tmp_path: Path) -> None:
    """``through=g``: the ratings just after generation g's evaluation games (openskill on those
    alone), their pairwise record and count, however many later generations were recorded."""
    first = [
        FfaGame(("a", "b", "c"), (1, 2, 2), (0.0,) * 3, 0, 5),
        FfaGame(("c", "a", "b"), (1, 2, 3), (0.0,) * 3, 1, 5),
    ]
    later = [FfaGame(("b", "c", "d"), (1, 3, 2), (0.0,) * 3, 2, 5)]
    with _ffa_store(tmp_path, ["a", "b", "c", "d"]) as store:
        log = PlacementLog(store)
        log.record_games(first, generation=1)
        log.record_games(later, generation=2)
        model = PlackettLuce()
        rating = {n: model.rating() for n in "abcd"}
        for game in first:
            teams = model.rate([[rating[n]] for n in game.members], ranks=list(game.places))
            rating.update({n: t[0] for n, t in zip(game.members, teams, strict=True)})
        assert log.ratings(through=1) == {n: (r.mu, r.sigma) for n, r in rating.items()}
        assert log.ratings(through=1) != log.ratings() == log.ratings(through=2)
        assert log.ratings(through=0) == dict.fromkeys("abcd", (25.0, 25.0 / 3.0))
        assert log.n_games(through=1) == 2 and log.n_games(2, through=1) == 0
        score, games = log.pairwise(["a", "b", "c", "d"], through=1)
        assert games[1, 2] == 2 and games[2, 3] == 0 and (score[1, 2], score[2, 1]) == (0.5, 1.5)
        expected = log.win_probabilities(["a", "c"], through=1)[0, 1]
        assert expected == model.predict_win([[rating["a"]], [rating["c"]]])[0]
        with pytest.raises(ValueError, match="through must be None or a generation"):
            log.ratings(through=-1)


def test_the_pairwise_reads_refuse_an_unknown_member(tmp_path: Path) -> None:
    with _ffa_store(tmp_path, ["a", "b", "c"]) as store:
        log = PlacementLog(store)
        log.record_games([FfaGame(("a", "b", "c"), (1, 2, 3), (0.0,) * 3, 0, 5)])
        # a misspelt name read as a new player (probability 0.59 against "a"), or as unmet
        for read in (log.win_probabilities, log.pairwise):
            with pytest.raises(KeyError, match="no member named 'zed'"):
                read(["a", "zed"])


def test_verify_finds_a_tampered_rating(tmp_path: Path) -> None:
    with _ffa_store(tmp_path, ["a", "b", "c"]) as store:
        log = PlacementLog(store)
        log.record_games([FfaGame(("a", "b", "c"), (1, 2, 2), (0.0,) * 3, 0, 5)])
        assert log.verify() == []
    with sqlite3.connect(tmp_path / "run" / DB_NAME) as db:
        db.execute("UPDATE ffa_ratings SET mu = mu + 1e-9 WHERE member = 1")
    with Store.open(tmp_path / "run") as store:
        assert any("rating of a" in p for p in PlacementLog(store).verify())


@pytest.mark.parametrize("places", [(1.5, 1, 3), (1.0, 2, 3), (True, 2, 3), ("1", 2, 3)])
def test_places_must_be_integers(places: tuple) -> None:
    with pytest.raises(ValueError, match="places must be integers"):
        FfaGame(("a", "b", "c"), places, (0.0,) * 3, 0, 1)
    assert FfaGame(("a", "b", "c"), (np.int64(1), 1, 3), (0.0,) * 3, 0, 1).places[0] == 1


@pytest.mark.parametrize("last", [-1, 1.5, True])
def test_games_refuses_a_bad_last_count_as_matches_does(tmp_path: Path, last) -> None:
    with _ffa_store(tmp_path, ["a", "b", "c"]) as store:
        log = PlacementLog(store)
        log.record_games([FfaGame(("a", "b", "c"), (1, 2, 3), (0.0,) * 3, k, 1) for k in range(3)])
        assert [g.seed for g in log.games(last=2)] == [1, 2] and log.games(last=0) == []
        with pytest.raises(ValueError, match="last must be None or a non-negative int"):
            log.games(last=last)


def test_record_games_rejects_bad_games_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sits twice"):
        FfaGame(("a", "a", "b"), (1, 2, 3), (0.0,) * 3, 0, 1)
    with pytest.raises(ValueError, match="places must be"):
        FfaGame(("a", "b", "c"), (1, 2, 4), (0.0,) * 3, 0, 1)
    # a three-way tie is (1, 1, 1): (2, 2, 2) would be a game nobody won; ties share the best
    # place of their group, so (1, 1, 2) and (1, 2, 1) are not placements
    for places in [(2, 2, 2), (1, 1, 2), (2, 1, 1), (1, 3, 3), (3, 3, 1)]:
        with pytest.raises(ValueError, match="ties sharing the best place"):
            FfaGame(("a", "b", "c"), places, (0.0,) * 3, 0, 1)
    for places in [(1, 1, 1), (1, 2, 2), (2, 2, 1), (3, 1, 2)]:
        assert FfaGame(("a", "b", "c"), places, (0.0,) * 3, 0, 1).places == places
    # a NaN return failed as the store's "NOT NULL constraint"; seed 1.5 was stored as 1
    for scores, seed, steps, match in [
        ((math.nan, 0.0, 0.0), 0, 1, "returns"),
        ((True, 0.0, 0.0), 0, 1, "returns"),
        ((0.0,) * 3, 1.5, 1, "seed"),
        ((0.0,) * 3, -1, 1, "seed"),
        ((0.0,) * 3, 0, -3, "steps"),
        ((0.0,) * 3, 0, 2.0, "steps"),
    ]:
        with pytest.raises(ValueError, match=match):
            FfaGame(("a", "b", "c"), (1, 2, 3), scores, seed, steps)
    with _ffa_store(tmp_path, ["a", "b", "c"]) as store:
        log = PlacementLog(store)
        with pytest.raises(KeyError, match="zed"):
            log.record_games([FfaGame(("a", "b", "zed"), (1, 2, 3), (0.0,) * 3, 0, 1)])
        assert log.n_games() == 0 and store.n_batches() == 0


# -- the tournament through the CLI ---------------------------------------------------------


def test_snake_tournament_ranks_greedy_above_random(tmp_path: Path, capsys) -> None:
    out = tmp_path / "snake"
    assert main(snake_tournament(out, "--seats", "4", "--games", "32")) == 0
    capsys.readouterr()
    assert main(["ladder", str(out), "--json"]) == 0
    ladder = json.loads(capsys.readouterr().out)
    order = [row["name"] for row in ladder["rows"]]
    assert set(order[:2]) == {"greedy", "g2"} and set(order[2:]) == {"random", "r2"}
    for row in ladder["rows"]:
        assert row["ordinal"] == pytest.approx(row["mu"] - 3 * row["sigma"])
        assert row["games"] == 32
    assert sum(row["win_share"] for row in ladder["rows"]) == pytest.approx(1.0)
    greedy = next(r for r in ladder["rows"] if r["name"] == "greedy")
    rand = next(r for r in ladder["rows"] if r["name"] == "random")
    assert greedy["mean_place"] < rand["mean_place"]
    # 32 games of 4 players: 8 blocks, each member 8 times in each seat
    seats = Counter((member, seat) for _, _, seat, member, _, _ in seat_rows(out))
    assert set(seats.values()) == {8} and len(seats) == 16
    assert main(["verify", str(out)]) == 0
    assert main(["show", str(out), "greedy"]) == 0
    assert "mean place" in capsys.readouterr().out
    assert main(["plot", str(out), "-o", str(tmp_path / "ffa.png")]) == 0
    assert (tmp_path / "ffa.png").read_bytes()[:4] == b"\x89PNG"


def test_an_interrupted_tournament_resumes_to_the_uninterrupted_record(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(snake_tournament(straight, "--games", "24")) == 0
    record = PlacementLog.record_games
    calls = []

    def crash_on_second_batch(self, games):
        calls.append(len(games))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return record(self, games)

    monkeypatch.setattr(PlacementLog, "record_games", crash_on_second_batch)
    assert main(snake_tournament(resumed, "--games", "24")) == 130
    monkeypatch.setattr(PlacementLog, "record_games", record)
    assert len(seat_rows(resumed)) == 8 * 4  # one batch of 8 games was committed
    assert main(snake_tournament(resumed, "--games", "24")) == 0
    assert seat_rows(resumed) == seat_rows(straight)
    with Store.open(straight) as a, Store.open(resumed) as b:
        assert PlacementLog(a).ratings() == PlacementLog(b).ratings()
    capsys.readouterr()
    assert main(snake_tournament(resumed, "--games", "24")) == 0
    assert "already holds 24 games" in capsys.readouterr().out


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", SNAKE, "--k", "8"], "--k is a two-player option"),
        (["--env", SNAKE, "--matchmaking", "pfsp"], "--matchmaking is a two-player option"),
        (["--env", SNAKE, "--games-per-match", "4"], "--games-per-match is a two-player"),
        (["--env", SNAKE, "--anchor", "greedy"], "--anchor is a two-player option"),
        # a custom factory builds a one-learner VecEnv: not how an N-player run plays
        (["--env", SNAKE, "--factory", "thrust_envs:vs_opponent"], "--factory is a two-player"),
        (
            ["--env", SNAKE, "--factory", "thrust_envs:vs_opponent", "--seats", "4"],
            "--factory is a two-player option; Thrust/Snake-v0 is an N-player game",
        ),
        (["--env", SNAKE, "--seats", "1"], "played with 2 to"),
        (["--env", SNAKE, "--seats", "100000"], "played with 2 to"),
        (["--env", SNAKE, "--seats", "5"], "--seats 5 needs at least 5 players"),
        (["--env", SNAKE, "--players", "greedy,nosuchbot,a=greedy"], "unknown player"),
        (["--env", "Thrust/Pong-v0", "--seats", "3"], "exactly 2 seats"),
        (["--env", SNAKE, "--env-kwargs", '{"max_steps": -7}'], "'max_steps' must be in"),
        (["--env", SNAKE, "--env-kwargs", '{"bogus": 1}'], "unknown keyword argument(s) 'bogus'"),
        (["--env", SNAKE, "--env-kwargs", '{"max_steps": 1.5}'], "'max_steps' must be an int"),
        (["--env", SNAKE, "--env-kwargs", '{"num_snakes": 3}'], "contradicts seats 4"),
    ],
)
def test_bad_tournament_input_is_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    out = tmp_path / "run"
    players = ["--players", "greedy,random,a=greedy,b=random"]
    if "--players" in argv:
        players = []
    command = ["tournament", *argv, *players, "--games", "4", "--out", str(out), "--no-progress"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_resuming_with_other_seats_or_players_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "snake"
    assert main(snake_tournament(out, "--games", "8")) == 0
    before = seat_rows(out)
    capsys.readouterr()
    assert main(snake_tournament(out, "--games", "16", "--seats", "3")) == 2
    assert "created with --seats 4" in capsys.readouterr().err
    assert main(snake_tournament(out, "--games", "16", players=BOTS + ",g3=greedy")) == 2
    assert "fixed when it is created" in capsys.readouterr().err
    assert main(snake_tournament(out, "--games", "16", "--k", "4")) == 2
    assert seat_rows(out) == before


def test_game_parameters_are_played_recorded_and_checked_on_resume(tmp_path: Path, capsys) -> None:
    out = tmp_path / "snake"
    kwargs = ["--env-kwargs", '{"max_steps": 3}']
    assert main(snake_tournament(out, *kwargs, games="8")) == 0
    assert {steps for _, steps, *_ in seat_rows(out)} <= {1, 2, 3}  # the games end at 3 steps
    with Store.open(out, readonly=True) as store:
        assert store.meta("env_kwargs") == {"max_steps": 3}
    before = seat_rows(out)
    capsys.readouterr()
    for other in ('{"max_steps": 4}', "{}"):
        assert main(snake_tournament(out, "--env-kwargs", other, games="16")) == 2
        assert 'game parameters {"max_steps": 3}, not --env-kwargs' in capsys.readouterr().err
    assert seat_rows(out) == before
    assert main(snake_tournament(out, games="16")) == 0  # the recorded ones apply
    assert {steps for _, steps, *_ in seat_rows(out)} <= {1, 2, 3}
    assert main(snake_tournament(out, *kwargs, games="24")) == 0
    assert len(seat_rows(out)) == 24 * 4


def test_a_two_player_run_refuses_seats(tmp_path: Path, capsys) -> None:
    from tests.test_population_cli import tournament  # the two-player toy game's command

    out = tmp_path / "duel"
    assert main(tournament(out, games="48")) == 0
    capsys.readouterr()
    assert main(tournament(out, "--seats", "3", games="96")) == 2
    assert "two-player game (2 seats)" in capsys.readouterr().err
    with Store.open(out) as store:
        assert store.n_games() == 48


def test_kill_9_mid_snake_tournament_loses_nothing_committed(tmp_path: Path, capsys) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    argv = snake_tournament(tmp_path / "x", "--games", "96", "--seed", "7")
    argv[argv.index("--n-envs") + 1] = "4"
    args = argv[:-4] + argv[-2:]  # without --out DIR
    reference, run = tmp_path / "reference", tmp_path / "killed"
    assert main([*args, "--out", str(reference)]) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "thrust_population", *args, "--out", str(run)],
        env=dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", "")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while process.poll() is None:
        assert time.monotonic() < deadline, "the tournament made no progress"
        try:
            if len(seat_rows(run)) >= 3 * 4 * 4:  # 3 batches of 4 games of 4 seats
                break
        except sqlite3.Error:
            pass
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    with Store.open(run) as store:
        log = PlacementLog(store)
        assert store.integrity_check() == "ok" and log.verify() == []
        assert log.n_games() == 4 * store.n_batches()  # whole batches only
        assert 0 < log.n_games() < 96
    survived = seat_rows(run)
    assert survived == seat_rows(reference)[: len(survived)]
    assert main([*args, "--out", str(run)]) == 0
    assert seat_rows(run) == seat_rows(reference)
    with Store.open(run) as a, Store.open(reference) as b:
        assert PlacementLog(a).ratings() == PlacementLog(b).ratings()


def test_a_run_killed_while_adding_its_members_is_completed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    meta = PlacementLog.run_meta(PlacementConfig(), 4)
    with Store.create(run, SNAKE, extra_meta=meta) as store:  # as a kill leaves it
        store.add_member("greedy", "bot", "greedy")
        store.add_member("random", "bot", "random")
    assert main(snake_tournament(run, "--games", "8")) == 0
    with Store.open(run) as store:
        assert store.member_names() == ["greedy", "random", "g2", "r2"]
        assert PlacementLog(store).n_games() == 8 and PlacementLog(store).verify() == []


def test_game_bots_are_built_for_the_games_own_size() -> None:
    """A Bucket Brigade of 8 houses and 5 agents seats bots built for 8 houses and 5 agents
    (the factory's named parameters come from the game), not the factory's defaults."""
    import thrust_envs
    from thrust_envs.core.definition import make_params
    from thrust_envs.multiagent import bucket_brigade as bb
    from thrust_population.ffa_cli import ffa_game_info
    from thrust_population.players import make_bot

    definition = bb.DEFINITION
    params = make_params(definition, definition.env_id, {"num_houses": 8, "num_agents": 5})
    game = ffa_game_info(definition, params)
    env = thrust_envs.make_parallel(definition.env_id, num_houses=8, num_agents=5)
    observations, _ = env.reset(seed=0)
    obs = np.stack([observations[agent] for agent in env.agents])
    for name in ("coordinator", "hero", "owner", "free_rider"):
        want = getattr(bb, f"{name}_bot")(num_houses=8, num_agents=5)(obs)
        np.testing.assert_array_equal(make_bot(name, game, 0)(obs), want, err_msg=name)
    # seeded bots take the seed too, and a positional argument still comes first
    random_bot = make_bot("random", game, 5)
    np.testing.assert_array_equal(
        random_bot(obs), bb.random_bot(num_houses=8, num_agents=5, seed=5)(obs)
    )
    assert make_bot("coordinator:8", game, 0) is not None


# -- damaged rows and metadata ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM ffa_ratings WHERE member = 2", "ffa_ratings row missing"),
        (
            "UPDATE meta SET value = '{\"mu\": 25.0, \"zz\": 1}' WHERE key = 'placement_rating'",
            "unknown placement configuration keys",
        ),
        ("UPDATE meta SET value = '1.5' WHERE key = 'seats'", "meta key 'seats'"),
    ],
)
def test_a_damaged_n_player_run_is_reported_not_raised(
    tmp_path: Path, capsys, sql: str, message: str
) -> None:
    from tests.test_population_faults import check_damage_is_reported, damaged_copy

    out = tmp_path / "snake"
    assert main(snake_tournament(out, games="8")) == 0
    capsys.readouterr()
    damaged = damaged_copy(out, tmp_path / "damaged", sql)
    readers = [
        ["ladder", str(damaged)],
        ["show", str(damaged), "random"],
        ["plot", str(damaged), "-o", str(tmp_path / "plot.png")],
        snake_tournament(damaged, games="16"),
    ]
    check_damage_is_reported(capsys, damaged, message, readers)
    assert not (tmp_path / "plot.png").exists()
