"""kill -9 in the middle of a tournament: the database stays intact, its ratings equal a replay of
its match log, every committed batch is whole, and resuming loses nothing committed (the final log
equals that of an uninterrupted run)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from thrust_population.cli import main
from thrust_population.matches import MatchResult
from thrust_population.population import compute_ladder
from thrust_population.store import DB_NAME, Store

TESTS = Path(__file__).resolve().parent
BATCH = 3
ARGS = [
    "tournament",
    "--env",
    "Toy/LongDuel-v0",
    "--factory",
    "population_helpers:vs_opponent",
    "--players",
    "level:0,level:1,level:2,level:3,level:4,random",
    "--games",
    "4000",
    "--games-per-match",
    "8",
    "--n-envs",
    "8",
    "--batch",
    str(BATCH),
    "--matchmaking",
    "random",
    "--seed",
    "5",
    "--no-progress",
]


def committed_batches(run: Path) -> int:
    """Batches committed so far, read without taking the write lock (0 before the run exists)."""
    if not (run / DB_NAME).is_file():
        return 0
    try:
        uri = f"file:{run / DB_NAME}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5.0) as db:
            return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
    except sqlite3.Error:
        return 0


def match_log(run: Path) -> list[tuple]:
    with Store.open(run, readonly=True) as store:
        return [
            (m.player_a, m.player_b, m.seat, m.seed, m.n_envs, m.games, m.outcomes)
            for m in store.matches()
        ]


def test_kill_9_mid_tournament_loses_nothing_committed(tmp_path, capsys):
    reference = tmp_path / "reference"
    assert main([*ARGS, "--out", str(reference)]) == 0
    capsys.readouterr()
    expected = match_log(reference)
    assert len(expected) == 500

    run = tmp_path / "crashed"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(3):
        start = committed_batches(run)
        target = start + int(rng.integers(3, 25))
        process = subprocess.Popen(
            [sys.executable, "-m", "thrust_population", *ARGS, "--out", str(run)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while committed_batches(run) < target and process.poll() is None:
            assert time.monotonic() < deadline, "the tournament made no progress"
            time.sleep(0.002)
        time.sleep(float(rng.uniform(0.0, 0.02)))  # land anywhere in a batch
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, stderr.decode()
        kills += 1

        with Store.open(run, readonly=True) as reader:  # readers first: the WAL is left over
            before = compute_ladder(reader)
            assert reader.integrity_check() == "ok"
        with Store.open(run) as store:
            assert store.integrity_check() == "ok"
            after = compute_ladder(store)  # a reader saw the run the writer recovers
            assert before.names == after.names and len(before.names) > 0
            assert [r.elo for r in before.rows] == [r.elo for r in after.rows]
            np.testing.assert_array_equal(before.games, after.games)
            assert store.verify() == []  # stored Elo == replay of the log, games, history
            assert store.n_matches() == BATCH * store.n_batches()  # whole batches only
            assert store.recompute_elo() == store.ratings()
        survived = match_log(run)
        assert survived == expected[: len(survived)]  # committed results are the reference's
        assert len(survived) < len(expected)

    assert kills == 3
    assert main([*ARGS, "--out", str(run)]) == 0  # resume to the end
    assert match_log(run) == expected
    with Store.open(run) as store, Store.open(reference) as ref:
        assert store.ratings() == ref.ratings()
        assert store.verify() == []


def test_kill_right_after_creation_leaves_a_resumable_run(tmp_path):
    run = tmp_path / "run"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "thrust_population", *ARGS, "--out", str(run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (run / DB_NAME).is_file() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    process.kill()
    process.wait(timeout=60)
    with Store.open(run) as store:  # created atomically: complete, if maybe without all members
        assert store.verify() == []
    assert main([*ARGS, "--out", str(run), "--games", "400"]) == 0
    with Store.open(run) as store:
        assert store.n_games() == 400 and store.verify() == []
        assert len(store.member_names()) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging directories


KILL_INSIDE = r"""
import sys, time
from pathlib import Path
import thrust_population.store as store_module
from thrust_population.matches import MatchResult

run, ready = Path(sys.argv[1]), Path(sys.argv[2])
original = store_module.Elo.update_games
calls = []

def slow_update(self, a, b, scores):
    calls.append(1)
    if len(calls) == 5:  # inside the batch's transaction, some rows already written
        ready.write_text("in transaction")
        time.sleep(60)
    return original(self, a, b, scores)

store_module.Elo.update_games = slow_update
store = store_module.Store.open(run)
batch = [("a", "b", MatchResult("Toy/Duel-v0", 0, k, 4, "WLDW", 1.0, 4)) for k in range(10)]
store.record_batch(batch)
"""


def test_kill_9_inside_a_transaction_loses_exactly_that_batch(tmp_path):
    run = tmp_path / "run"
    with Store.create(run, "Toy/Duel-v0") as store:
        store.add_member("a", "bot", "level:0")
        store.add_member("b", "bot", "level:1")
        store.record_batch([("a", "b", MatchResult("Toy/Duel-v0", 0, 1, 4, "WWLD", 1.0, 4))] * 3)
        before = (store.ratings(), store.rating_history(), store.n_matches())
    ready = tmp_path / "ready"
    process = subprocess.Popen([sys.executable, "-c", KILL_INSIDE, str(run), str(ready)])
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, "the writer ended before its transaction"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    with Store.open(run) as store:
        assert store.integrity_check() == "ok" and store.verify() == []
        assert (store.ratings(), store.rating_history(), store.n_matches()) == before
        assert store.n_batches() == 1
