"""N-player leagues (issue 17, part 3): learners train with parameter sharing in several seats of
every Snake game while the matchmaker's draws (snapshots and bots) fill the others; snapshots are
frozen per generation and rated from the placements of evaluation games; a league interrupted
anywhere (an exception inside a generation, SIGKILL) and resumed equals an uninterrupted one,
in process and on Ray; bad input is one line, exit code 2, nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from population_helpers import check_pool_leaves_out_a_member_frozen_between_reads

from thrust_population import League, LeagueConfig
from thrust_population.cli import main
from thrust_population.league.free_for_all import FreeForAllLeague
from thrust_population.placements import PlacementLog
from thrust_population.store import Store, StoreError

SNAKE = "Thrust/Snake-v0"
ENV_KWARGS = {"max_steps": 48}
ALGO_KWARGS = {"n_steps": 32, "batch_size": 256, "n_epochs": 1}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**changes: Any) -> LeagueConfig:
    values = {
        "learners": 2,
        "steps_per_generation": 512,  # one rollout: 32 steps x 8 games x 2 learner seats
        "opponents_per_generation": 2,
        "n_envs": 8,
        "eval_games": 6,  # one block: every one of the 6 players once in each seat
        "eval_n_envs": 6,
        "algo_kwargs": ALGO_KWARGS,
        "env_kwargs": ENV_KWARGS,
        "tensorboard": False,
        **changes,
    }
    return LeagueConfig(**values)


def signature(league: League) -> dict[str, Any]:
    """Everything an N-player league records except times and file bytes."""
    store = league.store
    log = PlacementLog(store)
    members = [(m.name, m.kind, m.spec, m.parent, m.generation) for m in store.members()]
    games = {g: log.games(generation=g) for g in range(1, max(league.generation, 0) + 1)}
    weights = {}
    for m in store.members():
        if m.kind == "sb3":
            state = league.load_learner(m.name).policy.state_dict()
            weights[m.name] = {k: v.detach().cpu().numpy().copy() for k, v in state.items()}
    opponents = [
        (h["generation"], item["learner"], tuple(item["opponents"]))
        for h in league.history
        for item in h["learners"]
    ]
    return {
        "members": members,
        "games": games,
        "ratings": log.ratings(),
        "opponents": opponents,
        "weights": weights,
        "generation": league.generation,
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("members", "games", "ratings", "opponents", "generation"):
        assert a[key] == b[key], key
    assert a["weights"].keys() == b["weights"].keys()
    for name, state in a["weights"].items():
        for k, v in state.items():
            np.testing.assert_array_equal(v, b["weights"][name][k], err_msg=f"{name} {k}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted N-player league: 2 learners, 2 generations, seed 3."""
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("ffa-league") / "ref"
    with League.create(directory, SNAKE, tiny_config(), seed=3) as league:
        reports = league.run(2, workers=1)
        return {"directory": directory, "signature": signature(league), "reports": reports}


def test_league_trains_rates_by_placement_and_reports(reference):
    with League.open(reference["directory"], readonly=True) as league:
        assert isinstance(league, FreeForAllLeague)
        config = league.config
        assert (config.seats, config.learner_seats) == (4, 2)
        assert league.bots == ("random", "greedy")
        names = league.store.member_names()
        assert names == ["random", "greedy", "L0-g0", "L1-g0", "L0-g1", "L1-g1", "L0-g2", "L1-g2"]
        log = PlacementLog(league.store)
        assert log.verify() == []  # stored ratings equal the refit of the placement log
        generations = {m.name: m.generation for m in league.store.members()}
        for generation in (1, 2):
            games = log.games(generation=generation)
            players = league.evaluation_players(generation)
            assert players == [
                "random",
                "greedy",
                f"L0-g{generation}",
                f"L0-g{generation - 1}",
                f"L1-g{generation}",
                f"L1-g{generation - 1}",
            ]
            assert len(games) == 6
            # one block: every player once in every seat
            for seat in range(4):
                assert sorted(g.members[seat] for g in games) == sorted(players)
            for game in games:
                assert sorted(game.places)[0] == 1 and all(1 <= p <= 4 for p in game.places)
            # training opponents: the matchmaker's draws among earlier generations' members
            for item in next(h for h in league.history if h["generation"] == generation)[
                "learners"
            ]:
                assert len(item["opponents"]) == 2
                assert all(generations[o] < generation for o in item["opponents"])
                assert item["steps"] == 512
        report = league.report(2)
        assert [r.player for r in report.rows] == league.evaluation_players(2)
        assert sum(r.learner for r in report.rows) == 2
        for row in report.rows:
            assert row.games == 4
            assert (row.mu, row.sigma) == log.ratings()[row.player]
        text = report.format()
        assert "L0-g2 *" in text and "greedy" in text and "ordinal" in text
        # read back after generation 2, generation 1's report shows its ratings as they stood
        assert league.report(1).rows == reference["reports"][0].rows


def test_the_matchmaker_sees_placements_pairwise_and_openskill_probabilities(reference):
    with League.open(reference["directory"], readonly=True) as league:
        pool = league._pool(2)
        assert pool.names == ("random", "greedy", "L0-g0", "L1-g0", "L0-g1", "L1-g1")
        log = PlacementLog(league.store)
        # generation 2's matchmaker sees the record as generation 1's evaluation left it (also
        # when a resumed generation recomputes its opponents after its evaluation): openskill
        # replaying generation 1's games
        model = log.config.model()
        rating = {name: model.rating() for name in log.ratings()}
        for game in log.games(generation=1):
            teams = model.rate([[rating[n]] for n in game.members], ranks=list(game.places))
            rating.update({n: t[0] for n, t in zip(game.members, teams, strict=True)})
        assert pool.ratings.tolist() == [rating[n].ordinal() for n in pool.names]
        assert pool.n_matches == len(log.games(generation=1))
        a, b = rating["greedy"], rating["random"]
        assert pool.expected_score(1, 0) == pytest.approx(model.predict_win([[a], [b]])[0])
        # every game of generation 1 gives each pair of its seats one shared game
        shared = Counter()
        for game in log.games(generation=1):
            for x in game.members:
                for y in game.members:
                    if x != y:
                        shared[x, y] += 1
        for i, x in enumerate(pool.names):
            for j, y in enumerate(pool.names):
                if i != j:
                    assert pool.games[i, j] == shared[x, y]
                    assert pool.score[i, j] + pool.score[j, i] == pool.games[i, j]


def test_the_pool_leaves_out_a_member_frozen_between_its_reads(reference, monkeypatch):
    check_pool_leaves_out_a_member_frozen_between_reads(reference["directory"], monkeypatch)


class _Crash(Exception):
    pass


def test_resume_after_a_crash_inside_a_generation(reference, tmp_path, monkeypatch):
    """Interrupted after learner 0's generation-2 snapshot, then after the evaluation was
    recorded but before the generation was marked: each resume ends as the uninterrupted
    league."""
    original_fit, original_mark = League._fit, League._mark

    def fit(self, learner, generation):
        if generation == 2 and learner == 1:
            raise _Crash
        return original_fit(self, learner, generation)

    def mark(self, generation, entry):
        if generation == 2:
            raise _Crash
        return original_mark(self, generation, entry)

    with League.create(tmp_path / "run", SNAKE, tiny_config(), seed=3) as league:
        monkeypatch.setattr(League, "_fit", fit)
        with pytest.raises(_Crash):
            league.run(2, workers=1)
        assert league.generation == 1 and "L0-g2" in league.store.member_names()
    monkeypatch.setattr(League, "_fit", original_fit)
    monkeypatch.setattr(League, "_mark", mark)
    with League.open(tmp_path / "run") as league:
        with pytest.raises(_Crash):
            league.run(2, workers=1)
        assert league.generation == 1
        assert PlacementLog(league.store).n_games(2) == 6  # generation 2's evaluation is kept
    monkeypatch.setattr(League, "_mark", original_mark)
    with League.open(tmp_path / "run") as league:
        (report,) = league.run(2, workers=1)
        assert report.generation == 2
        assert_same(signature(league), reference["signature"])


TRAIN = [
    "train",
    "--env",
    SNAKE,
    "--population",
    "2",
    "--generations",
    "2",
    "--steps-per-generation",
    "512",
    "--opponents-per-generation",
    "2",
    "--n-envs",
    "8",
    "--eval-games",
    "6",
    "--eval-n-envs",
    "6",
    "--seed",
    "3",
    "--algo-kwargs",
    json.dumps(ALGO_KWARGS),
    "--env-kwargs",
    json.dumps(ENV_KWARGS),
    "--no-tensorboard",
    "--no-progress",
]


def test_cli_train_is_the_api_league_and_ladder_show_verify_read_it(reference, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main([*TRAIN, "--out", str(out), "--workers", "1", "--learner-seats", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2 learners in 2 of 4 seats (N-player)" in printed
    assert "ordinal" in printed and "L1-g2 *" in printed
    with League.open(out, readonly=True) as league:
        assert_same(signature(league), reference["signature"])
    assert main(["ladder", str(out)]) == 0
    assert "Plackett–Luce" in capsys.readouterr().out
    assert main(["show", str(out), "L0-g2"]) == 0
    assert "L0-g2" in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0
    assert "ratings equal the refit" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (["--exploiters", "1"], "--exploiters is a two-player league option"),
        (["--exploiter-reset", "0.7"], "--exploiter-reset is a two-player league option"),
        (["--seats", "300"], "is played with 2 to 256 seats"),
        (["--seats", "4", "--learner-seats", "4"], r"learner_seats must be in \[1, 3\]"),
        (["--factory", "tests.population_helpers:vs_opponent"], "--factory is a two-player"),
        (["--env", "Thrust/Pong-v0", "--learner-seats", "1"], "--learner-seats is an N-player"),
        (["--env", "Thrust/Pong-v0", "--seats", "3"], "played with exactly 2 seats"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, changes, match):
    out = tmp_path / "bad"
    args = [*TRAIN, "--out", str(out)]
    for flag, value in zip(changes[::2], changes[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert __import__("re").search(match, err), err
    assert not out.exists()


def test_config_errors():
    with pytest.raises(ValueError, match="exploiters are a two-player league's"):
        LeagueConfig(seats=4, exploiters=1)
    with pytest.raises(ValueError, match="learner_seats is an N-player league's setting"):
        LeagueConfig(learner_seats=2)
    assert LeagueConfig(seats=5).learner_seats == 2
    from thrust_population.league.config import algo_arguments

    named = LeagueConfig(algo_kwargs={"policy_kwargs": {"activation_fn": "relu"}})
    assert algo_arguments(named)[1]["policy_kwargs"]["activation_fn"] is torch.nn.ReLU
    spelled = LeagueConfig(algo_kwargs={"policy_kwargs": {"activation_fn": "torch.nn:ELU"}})
    assert algo_arguments(spelled)[1]["policy_kwargs"]["activation_fn"] is torch.nn.ELU
    with pytest.raises(ValueError, match="activation_fn 'swish'"):
        algo_arguments(LeagueConfig(algo_kwargs={"policy_kwargs": {"activation_fn": "swish"}}))
    with pytest.raises(ValueError, match="contradicts seats"):
        League.create(
            "/nonexistent/never", SNAKE, tiny_config(seats=4, env_kwargs={"num_snakes": 6})
        )


def test_create_picks_the_league_kind_and_refuses_two_player_options(tmp_path):
    """League.create hands an N-player game to FreeForAllLeague's hook, as calling
    FreeForAllLeague.create does; a two-player option is refused before anything is written;
    a two-player game stays a League."""
    with League.create(tmp_path / "via-league", SNAKE, tiny_config(), seed=1) as league:
        assert type(league) is FreeForAllLeague
        assert league.config.seats == 4 and league.config.free_for_all
    with FreeForAllLeague.create(tmp_path / "direct", SNAKE, tiny_config(), seed=1) as league:
        assert type(league) is FreeForAllLeague and league.config.seats == 4
    for options, match in (
        ({"env_factory_path": "tests.population_helpers:vs_opponent"}, "two-player league's"),
        ({"elo": {"k": 16}}, "two-player league's option"),
    ):
        for kind in (League, FreeForAllLeague):
            # the option is refused before the (here unimportable) algorithm is looked up
            config = tiny_config(seats=4, algo="no_such_module:PPO")
            with pytest.raises(ValueError, match=match):
                kind.create(tmp_path / "bad", SNAKE, config, **options)
            assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="cannot import algorithm module 'no_such_module'"):
        League.create(tmp_path / "bad", SNAKE, tiny_config(algo="no_such_module:PPO"))
    assert not (tmp_path / "bad").exists()
    pong = tiny_config(algo_kwargs=ALGO_KWARGS, env_kwargs={}, eval_games=4, eval_n_envs=4)
    with League.create(tmp_path / "pong", "Thrust/Pong-v0", pong, seed=1) as league:
        assert type(league) is League and not league.config.free_for_all


def test_resume_after_kill_9(reference, tmp_path):
    """``train`` on Snake killed with SIGKILL once generation 1 is done, then ``resume``: the
    league equals the uninterrupted one."""
    out = tmp_path / "killed"
    code = "import sys, torch; torch.set_num_threads(1); from thrust_population.cli import main; "
    code += "sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *TRAIN, "--out", str(out), "--workers", "1"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if Store.exists(out):
                try:
                    with Store.open(out, readonly=True) as store:
                        done = (store.meta("league") or {}).get("generation") or 0
                except StoreError:
                    done = 0
                if done >= 1:
                    break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    with League.open(out) as league:
        assert league.generation == 1  # killed during generation 2
    assert main(["resume", str(out), "--no-progress", "--workers", "1"]) == 0
    with League.open(out, readonly=True) as league:
        assert_same(signature(league), reference["signature"])


def test_process_pool_gives_the_same_league(reference, tmp_path):
    """Two worker processes, the learners' generations trained there: the in-process league."""
    with League.create(tmp_path / "pool", SNAKE, tiny_config(), seed=3) as league:
        reports = league.run(2, workers=2, worker_threads=1)
        assert [r.generation for r in reports] == [1, 2]
        assert_same(signature(league), reference["signature"])
    assert not any((tmp_path / "pool" / "league-staging").iterdir())


def test_ray_backend_gives_the_same_league(reference, tmp_path, monkeypatch):
    """A real local Ray instance (2 CPUs): the learners' generations and the evaluation games
    as Ray tasks give the league of the local backend."""
    ray = pytest.importorskip("ray")

    def not_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("trained or played in the driver, not in a Ray task")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        monkeypatch.setattr(League, "_fit", not_here)
        monkeypatch.setattr(FreeForAllLeague, "play_evaluation", not_here)
        with League.create(tmp_path / "ray", SNAKE, tiny_config(), seed=3) as league:
            reports = league.run(2, backend="ray")
            assert [r.generation for r in reports] == [1, 2]
            assert_same(signature(league), reference["signature"])
    finally:
        ray.shutdown()


def test_snapshots_export_and_play_as_numpy(reference, tmp_path, capsys):
    out = tmp_path / "l0.npz"
    assert (
        main(["export", str(reference["directory"]), "L0-g2", "--format", "numpy", "-o", str(out)])
        == 0
    )
    from thrust_export import NumpyPolicy

    policy = NumpyPolicy.load(out)
    obs = np.zeros((3, *policy.observation_shape), dtype=np.float32)
    assert policy.predict(obs, deterministic=True)[0].shape == (3,)
    assert Path(out).is_file()
