"""League self-play training (thrust_population.league) on thrust_envs' Pong, with tiny step
counts: lineage and records, determinism for a seed, resuming after an interruption at any
point of a generation, the train / resume / export commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from population_helpers import check_pool_leaves_out_a_member_frozen_between_reads  # noqa: E402

from thrust_population import League, LeagueConfig, Population, snapshot_name  # noqa: E402
from thrust_population.cli import main  # noqa: E402
from thrust_population.league import (  # noqa: E402
    TENSORBOARD_DIR,
    LeagueBackend,
    TrainedLearner,
    auto_workers,
    play_evaluation,
)
from thrust_population.players import SpecError  # noqa: E402
from thrust_population.ratings import Elo  # noqa: E402
from thrust_population.store import Store, StoreError  # noqa: E402

PONG = "Thrust/Pong-v0"
ALGO_KWARGS = {"n_steps": 32, "batch_size": 64, "n_epochs": 2}
ENV_KWARGS = {"points_to_win": 1, "max_steps": 200}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**changes: Any) -> LeagueConfig:
    values = {
        "learners": 2,
        "steps_per_generation": 256,
        "opponents_per_generation": 2,
        "n_envs": 8,
        "eval_games": 8,
        "eval_n_envs": 8,
        "algo_kwargs": ALGO_KWARGS,
        "env_kwargs": ENV_KWARGS,
        **changes,
    }
    return LeagueConfig(**values)


def signature(league: League) -> dict[str, Any]:
    """Everything a league records, except times and file bytes: members with lineage, the
    matches with seeds and outcomes, ratings, training opponents and each snapshot's weights."""
    store = league.store
    members = [(m.name, m.kind, m.spec, m.parent, m.generation) for m in store.members()]
    matches = [
        (
            m.player_a,
            m.player_b,
            m.seat,
            m.seed,
            m.n_envs,
            m.outcomes,
            m.score,
            m.steps,
            m.generation,
        )
        for m in store.matches()
    ]
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
        "matches": matches,
        "ratings": store.ratings(),
        "opponents": opponents,
        "weights": weights,
        "generation": league.generation,
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("members", "matches", "ratings", "opponents", "generation"):
        assert a[key] == b[key], key
    assert a["weights"].keys() == b["weights"].keys()
    for name, state in a["weights"].items():
        for k, v in state.items():
            np.testing.assert_array_equal(v, b["weights"][name][k], err_msg=f"{name} {k}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted league of 2 learners and 2 generations (seed 5)."""
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("league") / "ref"
    reports = []
    with League.create(directory, PONG, tiny_config(), seed=5) as league:
        reports = league.run(2, workers=1)
        return {"directory": directory, "signature": signature(league), "reports": reports}


def test_league_lineage_records_and_reports(reference):
    sig = reference["signature"]
    members = {
        name: (kind, parent, generation) for name, kind, _, parent, generation in sig["members"]
    }
    assert members["random"] == ("bot", None, 0) and members["tracker"] == ("bot", None, 0)
    for i in range(2):
        assert members[snapshot_name(i, 0)] == ("sb3", None, 0)
        for g in (1, 2):
            assert members[snapshot_name(i, g)] == ("sb3", snapshot_name(i, g - 1), g)
    assert len(members) == 2 + 2 * 3
    # each generation: every new snapshot against both bots and its parent, and the two new
    # snapshots against each other: 7 matches of 8 games
    assert [m[-1] for m in sig["matches"]] == [1] * 7 + [2] * 7
    assert all(len(m[5]) == 8 for m in sig["matches"])
    # training opponents are members of earlier generations, never the learner itself
    for generation, learner, opponents in sig["opponents"]:
        assert len(opponents) == 2
        for name in opponents:
            kind, _, member_generation = members[name]
            assert member_generation < generation
            assert name != snapshot_name(learner, generation - 1)
    # trained snapshots differ from their parents
    w = sig["weights"]
    key = next(iter(w["L0-g0"]))
    assert not np.array_equal(w["L0-g0"][key], w["L0-g1"][key])
    with Population.open(reference["directory"], readonly=True) as pop:
        assert pop.store.verify() == []  # stored Elo equals a replay of the match log
        ratings = pop.store.ratings()
    reports = reference["reports"]
    assert [r.generation for r in reports] == [1, 2]
    for report in reports:
        assert [row.snapshot for row in report.rows] == [
            snapshot_name(0, report.generation),
            snapshot_name(1, report.generation),
        ]
        for row in report.rows:
            assert set(row.bot_scores) == {"random", "tracker"}
            assert all(0.0 <= s <= 1.0 for s in row.bot_scores.values())
            assert row.steps == 256 and row.steps_per_second > 0
        text = report.format()
        assert "vs random" in text and "vs tracker" in text and "steps/s" in text
    assert reports[-1].rows[0].elo == ratings["L0-g2"]
    with League.open(reference["directory"], readonly=True) as league:
        # read back after generation 2, generation 1's report shows its ratings as they stood
        assert league.report(1).rows == reports[0].rows
        # generation 2's matchmaker sees the record as generation 1's evaluation left it (also
        # when a resumed generation recomputes its opponents after its evaluation): a replay
        elo = Elo(league.store.elo_config)
        for m in league.store.matches():
            if m.generation == 1:
                elo.update_games(m.player_a, m.player_b, m.scores())
        pool = league._pool(2)
        assert pool.ratings.tolist() == [elo.rating(name) for name in pool.names]
        assert pool.n_matches == 7
    # TensorBoard: one directory per learner, with event files
    tb = reference["directory"] / TENSORBOARD_DIR
    assert sorted(p.name for p in tb.iterdir()) == ["L0_0", "L1_0"]
    assert all(any(p.glob("events.out.tfevents.*")) for p in tb.iterdir())


def test_the_pool_leaves_out_a_member_frozen_between_its_reads(reference, monkeypatch):
    check_pool_leaves_out_a_member_frozen_between_reads(reference["directory"], monkeypatch)


def test_same_seed_same_league_other_seed_differs(reference, tmp_path):
    with League.create(tmp_path / "a", PONG, tiny_config(), seed=5) as league:
        league.run(2, workers=1)
        assert_same(signature(league), reference["signature"])
    with League.create(tmp_path / "b", PONG, tiny_config(), seed=6) as league:
        league.run(1, workers=1)
        other = signature(league)
    assert other["matches"] != reference["signature"]["matches"][: len(other["matches"])]


def test_lineages_and_their_plot(reference, tmp_path):
    from thrust_population.plotting import elo_series, lineages, plot_run

    with League.open(reference["directory"], readonly=True) as league:
        assert league.snapshots(1) == ["L0-g1", "L1-g1"]
        assert league.learners() == league.snapshots(2)
        assert lineages(league.store) == [[f"L{i}-g{g}" for g in range(3)] for i in range(2)]
        assert league.start_snapshot(1, 3) == "L1-g2"  # the next generation's start
        for bad in (-1, 3, 1.0):
            with pytest.raises(ValueError, match="generation"):
                league.snapshots(bad)
        with pytest.raises(ValueError, match="learner"):
            league.start_snapshot(2, 1)
        with pytest.raises(ValueError, match="generation"):
            league.start_snapshot(0, 4)
        png = plot_run(league.store, tmp_path / "league.png")
        # Each Elo curve starts at the start rating just before the member's first match.
        store = league.store
        series = elo_series(store)
        matches = store.matches()
        first = {}
        for m in matches:
            for name in (m.player_a, m.player_b):
                first.setdefault(name, sum(x.games for x in matches if x.id < m.id))
        for name, (xs, ys) in series.items():
            assert xs[0] == first[name] and ys[0] == store.elo_config.start_rating(name), name
            assert xs == sorted(xs) and len(xs) == len(ys)
        assert series["L0-g2"][0][0] > series["L0-g1"][0][0]  # a later snapshot joined later
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_auto_workers_one_process_per_learner_up_to_the_cpus():
    assert auto_workers(4, cpus=2) == 2
    assert auto_workers(3, cpus=16) == 3
    assert auto_workers(1, cpus=8) == 1  # one learner: in process
    assert auto_workers(4, cpus=1) == 1  # one CPU: in process


def test_process_pool_gives_the_same_league(reference, tmp_path):
    with League.create(tmp_path / "pool", PONG, tiny_config(), seed=5) as league:
        reports = league.run(2, workers=2, worker_threads=1)
        assert [row.steps for r in reports for row in r.rows] == [256] * 4
        assert_same(signature(league), reference["signature"])
    assert not any((tmp_path / "pool" / "league-staging").iterdir())


def test_resume_between_generations(reference, tmp_path):
    with League.create(tmp_path / "run", PONG, tiny_config(), seed=5) as league:
        assert len(league.run(2, stop_after=1, workers=1)) == 1
        assert league.generation == 1
    with League.open(tmp_path / "run") as league:
        reports = league.run(2, workers=1)
        assert [r.generation for r in reports] == [2]
        assert_same(signature(league), reference["signature"])
        assert league.run(2, workers=1) == []  # nothing left to do


class _RecordingBackend(LeagueBackend):
    """A backend of one's own (one class): trains and plays in this process and records what
    the league asked of it."""

    def __init__(self) -> None:
        self.trained: list[tuple[int, int]] = []
        self.played = 0
        self.closed = False

    def train(self, league, generation, learners):
        for learner in learners:
            self.trained.append((generation, learner))
            model, entry = league._fit(learner, generation)
            yield TrainedLearner(learner, model, entry)

    def play(self, league, matches):
        self.played += len(matches)
        return play_evaluation(league, matches)

    def close(self) -> None:
        self.closed = True


def test_a_backend_of_ones_own_gives_the_same_league(reference, tmp_path):
    """League.run takes any LeagueBackend: it is asked for each learner's generation in
    learner order and for each generation's evaluation matches, closed at the end, and the
    league equals the local backend's."""
    backend = _RecordingBackend()
    with League.create(tmp_path / "own", PONG, tiny_config(), seed=5) as league:
        reports = league.run(2, backend=backend)
        assert [r.generation for r in reports] == [1, 2]
        assert_same(signature(league), reference["signature"])
    assert backend.trained == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert backend.played == 14  # per generation: 2 x (2 bots + parent) + 1 sibling pair
    assert backend.closed
    with pytest.raises(TypeError):
        LeagueBackend()  # the interface: train and play are abstract


class _Crash(Exception):
    pass


def test_resume_after_a_crash_inside_a_generation(reference, tmp_path, monkeypatch):
    """Killed after learner 0's generation-2 snapshot, then after the evaluation was recorded
    but before the generation was marked: each resume ends as the uninterrupted league."""
    original_fit = League._fit
    original_mark = League._mark

    def fit(self, learner, generation):
        if generation == 2 and learner == 1:
            raise _Crash
        return original_fit(self, learner, generation)

    with League.create(tmp_path / "run", PONG, tiny_config(), seed=5) as league:
        monkeypatch.setattr(League, "_fit", fit)
        with pytest.raises(_Crash):
            league.run(2, workers=1)
        assert league.generation == 1
        assert "L0-g2" in league.store.member_names()
    monkeypatch.setattr(League, "_fit", original_fit)

    def mark(self, generation, entry):
        if generation == 2:
            raise _Crash
        return original_mark(self, generation, entry)

    monkeypatch.setattr(League, "_mark", mark)
    with League.open(tmp_path / "run") as league:
        with pytest.raises(_Crash):
            league.run(2, workers=1)
        assert league.generation == 1
        assert league.store.n_matches() == 14  # generation 2's evaluation is recorded
    monkeypatch.setattr(League, "_mark", original_mark)
    with League.open(tmp_path / "run") as league:
        (report,) = league.run(2, workers=1)
        # both learners were trained by interrupted attempts; their speeds were kept
        assert [row.steps for row in report.rows] == [256, 256]
        assert all(row.steps_per_second > 0 for row in report.rows)
        assert_same(signature(league), reference["signature"])


def test_exploiters_train_against_the_main_agents(tmp_path):
    config = tiny_config(learners=1, exploiters=2, opponents_per_generation=3)
    with League.create(tmp_path / "run", PONG, config, seed=2) as league:
        reports = league.run(2, workers=1)
        members = {m.name: m for m in league.store.members()}
        history = league.history
        # the main agent's pool for generation 2 holds the exploiters' snapshots
        assert {"E0-g1", "E1-g1", "L0-g1", "random", "tracker"} <= set(league._pool(2).names)
    for j in range(2):
        assert members[f"E{j}-g2"].parent == f"E{j}-g1" and members[f"E{j}-g1"].generation == 1
    for entry in history:
        g = entry["generation"]
        by_learner = {item["learner"]: item["opponents"] for item in entry["learners"]}
        assert sorted(by_learner) == [0, 1, 2]
        for exploiter in (1, 2):  # learner indices: main agents first, then exploiters
            assert set(by_learner[exploiter]) == {f"L0-g{g - 1}"}
    assert [row.snapshot for row in reports[1].rows] == ["L0-g2", "E0-g2", "E1-g2"]
    assert "E1" in reports[1].format()
    assert all(len(row.opponents) == 3 for r in reports for row in r.rows)


@pytest.mark.parametrize("threshold", [0.0, None])
def test_exploiter_reset(tmp_path, threshold):
    """With a reset score of 0 an exploiter always restarts from its initial weights (its
    snapshots' parent is E0-g0); without one it continues from its last snapshot."""
    config = tiny_config(learners=1, exploiters=1, exploiter_reset=threshold)
    with League.create(tmp_path / "run", PONG, config, seed=3) as league:
        league.run(3, workers=1)
        members = {m.name: m for m in league.store.members()}
        resets = [item.get("reset_to") for h in league.history for item in h["learners"]]
    expected = "E0-g0" if threshold == 0.0 else None
    assert members["E0-g1"].parent == "E0-g0"  # nothing to reset from in generation 1
    for g in (2, 3):
        assert members[f"E0-g{g}"].parent == (expected or f"E0-g{g - 1}")
        assert members[f"L0-g{g}"].parent == f"L0-g{g - 1}"  # main agents never reset
    assert resets == [None, None, None, expected, None, expected]


def test_exploiter_reset_compares_its_score_with_the_threshold(tmp_path):
    """Between the extremes: an exploiter restarts when its score (points per game, draws
    half, from its own side of each recorded match) against every main agent in the last
    generation's evaluation reached ``exploiter_reset``. Computed here from the matches."""
    threshold = 0.5
    config = tiny_config(learners=1, exploiters=1, exploiter_reset=threshold)
    with League.create(tmp_path / "run", PONG, config, seed=3) as league:
        league.run(3, workers=1)
        matches = league.store.matches()
        resets = [item.get("reset_to") for h in league.history for item in h["learners"]]
    seats = set()
    for g in (2, 3):
        exploiter, main = f"E0-g{g - 1}", f"L0-g{g - 1}"
        points = games = 0.0
        for m in matches:
            if m.generation == g - 1 and {m.player_a, m.player_b} == {exploiter, main}:
                seats.add(m.player_a == exploiter)
                points += m.points if m.player_a == exploiter else m.games - m.points
                games += m.games
        assert games > 0, f"{exploiter} did not meet {main}"
        expected = "E0-g0" if points / games >= threshold else None
        assert resets[2 * g - 1] == expected, (g, points / games, resets)
    assert False in seats  # the exploiter's points were B's: the side is counted


def test_stock_sb3_algorithms_train_in_a_league(tmp_path):
    """Any SB3 on-policy algorithm: stock PPO and A2C."""
    for algo, kwargs in (
        ("stable_baselines3:PPO", ALGO_KWARGS),
        ("stable_baselines3:A2C", {"n_steps": 8}),
    ):
        config = tiny_config(learners=1, algo=algo, algo_kwargs=kwargs)
        name = algo.split(":")[1]
        with League.create(tmp_path / name, PONG, config, seed=1) as league:
            (report,) = league.run(1, workers=1)
            model = league.load_learner("L0-g1")
            assert type(model).__module__.startswith("stable_baselines3.")
            assert type(model).__name__ == name
            assert report.rows[0].steps >= 256


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="learners"):
        tiny_config(learners=0)
    with pytest.raises(ValueError, match="matchmaking"):
        tiny_config(matchmaking="nope")
    with pytest.raises(ValueError, match="exploiters"):
        tiny_config(exploiters=-1)
    with pytest.raises(ValueError, match="exploiter_reset"):
        tiny_config(exploiter_reset=1.5)
    with pytest.raises(ValueError, match="algorithm"):
        League.create(tmp_path / "x", PONG, tiny_config(algo="no_such_module_q:PPO"))
    assert not (tmp_path / "x").exists()
    with pytest.raises(SpecError, match="zz"):
        League.create(tmp_path / "x", PONG, tiny_config(bots=("random", "zz")))
    assert not (tmp_path / "x").exists()
    Population.create(tmp_path / "plain", PONG).close()
    with pytest.raises(StoreError, match="not a league"):
        League.open(tmp_path / "plain")


TRAIN = [
    "train",
    "--env",
    PONG,
    "--population",
    "2",
    "--generations",
    "2",
    "--steps-per-generation",
    "256",
    "--opponents-per-generation",
    "2",
    "--n-envs",
    "8",
    "--eval-games",
    "8",
    "--eval-n-envs",
    "8",
    "--algo-kwargs",
    json.dumps(ALGO_KWARGS),
    "--env-kwargs",
    json.dumps(ENV_KWARGS),
    "--seed",
    "5",
    "--workers",
    "1",
    "--no-progress",
]


def test_cli_train_resume_export(reference, tmp_path, capsys):
    out = tmp_path / "run"
    # train one generation (a target of 1), then resume to 2 generations
    args = [*TRAIN, "--out", str(out)]
    args[args.index("--generations") + 1] = "1"
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "L0-g1" in text and "vs tracker" in text and "L1-g2" not in text
    assert main(["resume", str(out), "--no-progress"]) == 0  # target reached: nothing to do
    assert "L1-g2" not in capsys.readouterr().out
    assert main(["resume", str(out), "--generations", "2", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "L1-g2" in text and "win rate" in text
    assert main(["resume", str(out), "--no-progress"]) == 0  # the target is now 2
    assert "L0-g3" not in capsys.readouterr().out
    with League.open(out) as league:
        assert_same(signature(league), reference["signature"])
        model = league.load_learner("L1-g2")

    import thrust_export

    obs = np.random.default_rng(0).uniform(-1, 1, size=(64, 8)).astype(np.float32)
    expected = model.predict(obs, deterministic=True)[0]
    assert main(["export", str(out), "L1-g2", "--format", "numpy"]) == 0
    npz = out / "exports" / "L1-g2.npz"
    assert str(npz) in capsys.readouterr().out
    np.testing.assert_array_equal(thrust_export.load(npz).predict(obs)[0], expected)
    # play uses the league's game parameters: one-point games of at most 200 steps
    assert main(["play", str(out), "L1-g2", "tracker", "--games", "8", "--n-envs", "8"]) == 0
    assert "8 games" in capsys.readouterr().out
    with Population.open(out, readonly=True) as pop:
        assert pop.store.matches(last=1)[0].steps <= 200
    # and so does a tournament continued on the league's run
    games = [*TRAIN[:3], "--players", "random,tracker", "--out", str(out), "--no-progress"]
    with Population.open(out, readonly=True) as pop:
        games += ["--games", str(pop.store.n_games() + 16), "--seed", "5"]
        before = pop.store.n_matches()
    assert main(["tournament", *games[1:]]) == 0
    with Population.open(out, readonly=True) as pop:
        new = pop.store.matches()[before:]
        assert new and all(m.steps <= 200 * -(-m.games // m.n_envs) for m in new)
    onnx = tmp_path / "policy.onnx"
    assert main(["export", str(out), "L1-g2", "--format", "onnx", "-o", str(onnx)]) == 0
    np.testing.assert_array_equal(thrust_export.OnnxPolicy(onnx).predict(obs)[0], expected)
    # a web page where the snapshot plays the league's game (its one-point, 200-step games)
    page = tmp_path / "pong.html"
    assert main(["export", str(out), "L1-g2", "--format", "web", "-o", str(page)]) == 0
    config = page.read_text().split('id="thrust-config">', 1)[1].split("</script>", 1)[0]
    config = json.loads(config)
    assert config["env_id"] == PONG and config["params"]["points_to_win"] == 1
    assert config["params"]["max_steps"] == 200


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "--env", PONG, "--generations", "1", "--backend", "dask"], "invalid choice"),
        (["train", "--env", PONG, "--generations", "1", "--algo-kwargs", "[1]"], "JSON object"),
        (["train", "--env", PONG, "--generations", "1", "--matchmaking", "x"], "matchmaking"),
        (["train", "--env", "Nope/Game-v0", "--generations", "1"], "unknown environment"),
        (["train", "--env", PONG, "--generations", "1", "--bots", "random,zz"], "zz"),
        (["train", "--env", PONG, "--generations", "0"], "positive"),
        (["train", "--env", PONG, "--generations", "1", "--exploiter-reset", "2"], "score"),
        (["train", "--env", PONG, "--generations", "1", "--algo-kwargs", '{"nope": 1}'], "nope"),
        (["train", "--env", PONG, "--generations", "1", "--algo", "json:dumps"], "on-policy"),
        (["resume", "MISSING"], "no run directory"),
        (["export", "REF", "nobody"], "nobody"),
        (["export", "REF", "random"], "bot"),
        (["export", "REF", "L0-g1", "--format", "pickle"], "invalid choice"),
        (["train", "--env", PONG, "--generations", "1", "--out", "REF"], "resume"),
    ],
)
def test_cli_bad_input(reference, tmp_path, capsys, args, match):
    args = [str(reference["directory"]) if a == "REF" else a for a in args]
    args = [str(tmp_path / "missing") if a == "MISSING" else a for a in args]
    if args[0] == "train" and "--out" not in args:
        args += ["--out", str(tmp_path / "new"), "--no-progress"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0]
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())


def test_export_numpy_is_torch_free_to_run(reference, tmp_path):
    """The exported file is a plain thrust_export artifact (loads with allow_pickle=False)."""
    out = tmp_path / "p.npz"
    assert main(["export", str(reference["directory"]), "L0-g2", "-o", str(out)]) == 0
    with np.load(out, allow_pickle=False) as data:
        assert len(data.files) > 0
    assert Path(out).stat().st_size > 0


def test_resume_after_kill_9(tmp_path):
    """``train`` killed with SIGKILL during generation 2 or later, then ``resume``: the league
    equals an uninterrupted one."""
    out = tmp_path / "killed"
    args = [*TRAIN, "--out", str(out)]
    args[args.index("--generations") + 1] = "4"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = "import sys, torch; torch.set_num_threads(1); from thrust_population.cli import main; "
    code += "sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
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
    with League.open(out) as league:
        killed_at = league.generation
        assert 1 <= killed_at < 4  # killed before the end
    assert main(["resume", str(out), "--no-progress"]) == 0
    with League.create(tmp_path / "ref", PONG, tiny_config(), seed=5) as reference:
        reference.run(4, workers=1)
        expected = signature(reference)
    with League.open(out) as league:
        assert league.generation == 4
        assert_same(signature(league), expected)


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _ray_available(), reason="ray is not installed")
def test_ray_backend_matches_local(reference, tmp_path, capsys, monkeypatch):
    """One real local Ray instance (2 CPUs): learners' generations and evaluation matches as
    Ray tasks give the same league as the local backend for the same seed, through the API and
    through ``train --backend ray``."""
    import ray

    def not_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("trained or played in the driver, not in a Ray task")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # the Ray workers import the modules afresh: only the driver's copies are patched
        monkeypatch.setattr(League, "_fit", not_here)
        monkeypatch.setattr(Population, "play", not_here)
        with League.create(tmp_path / "ray", PONG, tiny_config(), seed=5) as league:
            reports = league.run(2, backend="ray")
            assert [r.generation for r in reports] == [1, 2]
            assert_same(signature(league), reference["signature"])
        assert ray.is_initialized()  # a Ray instance the league did not start is left running
        out = tmp_path / "cli"
        args = ["train", "--env", PONG, "--generations", "1", "--population", "2"]
        args += ["--steps-per-generation", "256", "--opponents-per-generation", "2"]
        args += ["--n-envs", "8", "--eval-games", "8", "--eval-n-envs", "8", "--seed", "5"]
        args += ["--algo-kwargs", json.dumps(ALGO_KWARGS), "--env-kwargs", json.dumps(ENV_KWARGS)]
        args += ["--out", str(out), "--backend", "ray", "--no-progress"]
        assert main(args) == 0
        resume = ["resume", str(out), "--generations", "2", "--backend", "ray", "--no-progress"]
        assert main(resume) == 0
        with League.open(out, readonly=True) as league:
            assert_same(signature(league), reference["signature"])
    finally:
        ray.shutdown()


def test_initial_weights_do_not_depend_on_the_thread_count(tmp_path) -> None:
    """SB3 initialises with orthogonal_, whose QR sums in a thread-dependent order: a
    512-wide learner's initial weights differed by 3e-6 between one and two torch threads.
    The league builds its learners on one thread, whatever the caller's setting (restored)."""
    config = tiny_config(
        learners=1,
        algo_kwargs={**ALGO_KWARGS, "policy_kwargs": {"net_arch": [512, 512]}},
    )
    weights = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with League.create(tmp_path / f"t{threads}", PONG, config, seed=3) as league:
            assert torch.get_num_threads() == threads
            weights.append(signature(league)["weights"]["L0-g0"])
    for key, value in weights[0].items():
        np.testing.assert_array_equal(value, weights[1][key], err_msg=key)
