"""The SQLite store and the Population over it: layout, transactions, ratings against a replay of
the log, concurrency, locks, damage, lineage, replays and resumed tournaments."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from population_helpers import constant, vs_opponent

from thrust_population.matches import MatchResult
from thrust_population.matchmaking import PFSP, ClosestRating, RandomMatchmaker, SelfPlay
from thrust_population.population import Population, compute_ladder, match_seed
from thrust_population.ratings import Elo, EloConfig
from thrust_population.store import (
    DB_NAME,
    Store,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreNotFound,
    UnknownMember,
)

FACTORY = "population_helpers:vs_opponent"
LEVELS = [f"level:{k}" for k in range(5)]


def new_run(path: Path, env_id: str = "Toy/Duel-v0", **kwargs) -> Population:
    pop = Population.create(
        path, env_id, env_factory=vs_opponent, env_factory_path=FACTORY, seed=1, **kwargs
    )
    for spec in LEVELS:
        pop.add_bot(spec)
    return pop


@pytest.fixture
def pop(tmp_path: Path):
    population = new_run(tmp_path / "run")
    yield population
    population.close()


def log(store: Store) -> list[tuple]:
    return [
        (m.player_a, m.player_b, m.seat, m.seed, m.n_envs, m.games, m.outcomes)
        for m in store.matches()
    ]


def result(outcomes: str, env_id: str = "Toy/Duel-v0", seed: int = 0) -> MatchResult:
    return MatchResult(env_id, "alternate", seed, 4, outcomes, 0.0, len(outcomes))


def test_layout_wal_and_metadata(pop, tmp_path):
    store = pop.store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging left behind
    assert (tmp_path / "run" / DB_NAME).is_file() and store.artifacts.is_dir()
    with sqlite3.connect(tmp_path / "run" / DB_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.env_id == "Toy/Duel-v0" and store.env_factory == FACTORY and store.seed == 1
    assert store.elo_config == EloConfig()
    assert store.member_names() == LEVELS
    assert store.ratings() == dict.fromkeys(LEVELS, 1500.0)
    assert store.integrity_check() == "ok" and store.verify() == []


def test_create_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not an empty directory"):
        Store.create(tmp_path / "x", "Toy/Duel-v0")
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    Store.create(tmp_path / "empty", "Toy/Duel-v0").close()
    assert Store.exists(tmp_path / "empty")


@pytest.mark.parametrize("seed", [-3, 1.5, True, "1", 2**63, np.float64(1.0), None])
@pytest.mark.parametrize("create", ["store", "population"])
def test_a_bad_run_seed_is_refused_before_anything_is_written(tmp_path, create, seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int below 2"):
        if create == "store":
            Store.create(tmp_path / "run", "Toy/Duel-v0", seed=seed)
        else:
            Population.create(tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent, seed=seed)
    assert list(tmp_path.iterdir()) == []


def test_a_batch_updates_ratings_history_and_counts(pop):
    store = pop.store
    ids = store.record_batch(
        [("level:0", "level:1", result("WwLd")), ("level:2", "level:0", result("WWWl", seed=9))]
    )
    assert ids == [1, 2] and store.n_matches() == 2 and store.n_batches() == 1
    assert store.n_games() == 8
    elo = Elo(EloConfig())
    elo.update_games("level:0", "level:1", [1, 1, 0, 0.5])
    elo.update_games("level:2", "level:0", [1, 1, 1, 0])
    ratings = store.ratings()
    for name in ("level:0", "level:1", "level:2"):
        assert ratings[name] == elo.rating(name)
    assert store.recompute_elo() == ratings
    assert store.games_played()["level:0"] == 8
    history = store.rating_history()
    assert [(m, n) for m, n, _ in history] == [
        (1, "level:0"),
        (1, "level:1"),
        (2, "level:0"),
        (2, "level:2"),
    ]
    names, score, games = store.counts()
    assert score[0, 1] == 2.5 and score[1, 0] == 1.5 and games[0, 1] == 4
    assert score[2, 0] == 3.0 and games[0, 2] == 4
    row = store.match(2)
    assert (row.wins, row.draws, row.losses, row.seed, row.seat) == (3, 0, 1, 9, "alternate")
    assert store.verify() == []


def test_a_failed_batch_writes_nothing(pop):
    store = pop.store
    store.record_batch([("level:0", "level:1", result("WW"))])
    before = (store.n_matches(), store.ratings(), store.rating_history())
    with pytest.raises(UnknownMember, match="ghost"):
        store.record_batch(
            [("level:0", "level:1", result("LL")), ("level:0", "ghost", result("W"))]
        )
    with pytest.raises(ValueError, match="played on"):
        store.record_batch([("level:0", "level:1", result("W", env_id="Toy/RPS-v0"))])
    with pytest.raises(ValueError, match="outcome"):
        store.record_batch([("level:0", "level:1", result("WX"))])
    with pytest.raises(ValueError, match="two different"):
        store.record_batch([("level:0", "level:0", result("W"))])
    assert (store.n_matches(), store.ratings(), store.rating_history()) == before
    assert store.n_batches() == 1


def test_the_record_through_a_generation_is_the_state_it_stood_in_then(tmp_path):
    """``through=g``: the ratings just after generation g's matches (a replay of those alone),
    its counts and matches, however many later generations were recorded; start ratings (the
    anchor pinned) before any match."""
    config = EloConfig(k=24, anchor="level:4", anchor_rating=1000.0)
    with new_run(tmp_path / "run", elo=config) as pop:
        store = pop.store
        first = [("level:0", "level:1", result("WwLd")), ("level:2", "level:0", result("WWWl"))]
        later = [("level:1", "level:2", result("LLLw")), ("level:0", "level:4", result("WWWW"))]
        store.record_batch(first, generation=1)
        store.record_batch(later, generation=2)
        elo = Elo(store.elo_config)
        for a, b, r in first:
            elo.update_games(a, b, r.scores())
        assert store.ratings(through=1) == {name: elo.rating(name) for name in LEVELS}
        assert store.ratings(through=1) != store.ratings()
        assert store.ratings(through=2) == store.ratings()
        assert store.ratings(through=0) == {**dict.fromkeys(LEVELS, 1500.0), "level:4": 1000.0}
        assert store.n_matches(through=0) == 0 and store.n_matches(through=1) == 2
        names, score, games = store.counts(through=1)
        assert games[1, 2] == 0 and games[0, 1] == 4 and score[2, 0] == 3.0
        for through in (-1, 1.5, True, "1"):
            with pytest.raises(ValueError, match="through must be None or a generation"):
                store.ratings(through=through)


def test_verify_detects_tampering(pop, tmp_path):
    pop.run_tournament(200, games_per_match=20)
    assert pop.store.verify() == []
    with sqlite3.connect(tmp_path / "run" / DB_NAME) as db:
        db.execute("UPDATE ratings SET elo = elo + 1e-9 WHERE member = 2")
    problems = pop.store.verify()
    assert any("Elo of level:1" in p for p in problems)
    assert any("history of level:1" in p for p in problems)


def test_damaged_rows_are_store_corrupt_and_verify_problems(pop, tmp_path):
    pop.run_tournament(100, games_per_match=20)
    with sqlite3.connect(tmp_path / "run" / DB_NAME) as db:
        db.execute("DELETE FROM ratings WHERE member = 2")
        db.execute("UPDATE members SET info = 'not json' WHERE id = 3")
        db.execute(
            "UPDATE matches SET outcomes = replace(hex(zeroblob(games)), '00', '?') WHERE id = 1"
        )
    store = pop.store
    with pytest.raises(StoreCorrupt, match="ratings row missing"):
        store.ratings()
    with pytest.raises(StoreCorrupt, match="ratings row missing"):  # not "no member named"
        store.record_batch([("level:1", "level:3", result("W"))])
    with pytest.raises(StoreCorrupt, match="damaged info of member 'level:2'"):
        store.members()
    with pytest.raises(StoreCorrupt, match="match 1 has a damaged outcome string"):
        store.recompute_elo()
    problems = store.verify()
    assert any("ratings row missing) for member 'level:1'" in p for p in problems)
    assert any("match 1 has a damaged outcome string" in p for p in problems)


def test_two_writers_stay_consistent(pop, tmp_path):
    other = Store.open(tmp_path / "run")
    try:
        for k in range(10):
            writer = pop.store if k % 2 else other
            writer.record_batch([("level:1", "level:3", result("WLD" * (k + 1)))])
        assert pop.store.verify() == [] and other.ratings() == pop.store.ratings()
        assert pop.store.recompute_elo() == pop.store.ratings()
    finally:
        other.close()


def test_a_locked_database(pop, tmp_path):
    pop.close()  # only the connections of this test
    holder = sqlite3.connect(tmp_path / "run" / DB_NAME, isolation_level=None, timeout=1.0)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
        store = Store.open(tmp_path / "run", timeout=0.05)
        with pytest.raises(StoreLocked, match="locked"):
            store.check_writable()
        with pytest.raises(StoreLocked):
            store.record_batch([("level:0", "level:1", result("W"))])
        assert compute_ladder(store).names == LEVELS  # WAL: readers still read
        store.close()
        holder.execute("ROLLBACK")
        # an exclusive lock keeps even readers out
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE meta SET value = value WHERE key = 'seed'")
        holder.execute("COMMIT")
        with pytest.raises(StoreLocked):
            Store.open(tmp_path / "run", timeout=0.05, readonly=True)
    finally:
        holder.close()
    Store.open(tmp_path / "run").close()


def test_missing_and_damaged_runs(tmp_path):
    with pytest.raises(StoreNotFound, match="no run directory"):
        Store.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreNotFound, match="not a run directory"):
        Store.open(tmp_path / "empty")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / DB_NAME).write_bytes(np.random.default_rng(0).bytes(8192))
    with pytest.raises(StoreCorrupt):
        Store.open(tmp_path / "garbage")
    (tmp_path / "foreign").mkdir()
    with sqlite3.connect(tmp_path / "foreign" / DB_NAME) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreCorrupt, match="not a thrust-population run"):
        Store.open(tmp_path / "foreign")


@pytest.mark.parametrize(
    "schema",
    ["CREATE TABLE t (x); INSERT INTO t VALUES (1)", "CREATE TABLE meta (key, value)"],
)
@pytest.mark.parametrize("exclusive", [False, True])
def test_a_refused_foreign_database_stays_byte_identical(tmp_path, schema, exclusive):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    db = sqlite3.connect(foreign / DB_NAME)  # another program's database (rollback journal)
    db.executescript(schema)
    db.close()
    before = (foreign / DB_NAME).read_bytes()
    with pytest.raises(StoreCorrupt, match="not a thrust-population run"):
        Store.open(foreign, exclusive=exclusive)
    assert (foreign / DB_NAME).read_bytes() == before  # not switched to WAL
    assert sorted(p.name for p in foreign.iterdir()) == [DB_NAME]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ('"1"', "must be an integer, got '1'"),
        ("1.0", "must be an integer, got 1.0"),
        ("true", "must be an integer, got True"),
        ("2", "run format version 2, this thrust_population reads version 1"),
    ],
)
def test_a_bad_format_version_says_what_is_wrong(pop, tmp_path, value, match):
    pop.close()
    with sqlite3.connect(tmp_path / "run" / DB_NAME) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    with pytest.raises(StoreCorrupt, match=re.escape(match)):
        Store.open(tmp_path / "run", readonly=True)


def test_a_truncated_database_is_reported_as_damaged(tmp_path):
    pop = new_run(tmp_path / "run")
    pop.run_tournament(1000, games_per_match=8, batch_matches=1)
    pop.close()
    path = tmp_path / "run" / DB_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreCorrupt):
        store = Store.open(tmp_path / "run", readonly=True)
        try:
            compute_ladder(store)
            store.verify()
        finally:
            store.close()


def test_a_read_only_store_cannot_write(pop, tmp_path):
    store = Store.open(tmp_path / "run", readonly=True)
    try:
        with pytest.raises(StoreError, match="readonly"):
            store.record_batch([("level:0", "level:1", result("W"))])
    finally:
        store.close()


def test_lineage_and_callables(pop, tmp_path):
    root = pop.add_callable("learner-0", constant(2))
    child = pop.add_callable("learner-1", constant(3), parent="learner-0")
    grandchild = pop.add_callable("learner-2", constant(4), parent="learner-1", generation=7)
    assert (root.generation, child.generation, grandchild.generation) == (0, 1, 7)
    assert child.parent == "learner-0" and root.parent is None
    with pytest.raises(UnknownMember, match="nobody"):
        pop.add_callable("orphan", constant(0), parent="nobody")
    with pytest.raises(StoreError, match="already exists"):
        pop.add_callable("learner-1", constant(0))
    result_ = pop.play("learner-2", "level:0", 40, n_envs=8)
    assert pop.store.match(1).generation == 7  # the batch's generation: the highest
    assert result_.games == 40
    # another process knows the member but not its code until attached
    again = Population.open(tmp_path / "run", env_factory=vs_opponent)
    try:
        with pytest.raises(StoreError, match="attach"):
            again.play("learner-2", "level:0", 4)
        again.attach("learner-2", constant(4))
        assert again.replay(1).outcomes == pop.store.match(1).outcomes
        with pytest.raises(ValueError, match="not an in-process callable"):
            again.attach("level:0", constant(0))
    finally:
        again.close()


@pytest.mark.parametrize("last", [-1, 1.5, True, "2"])
def test_a_bad_last_count_is_refused(pop, last):
    pop.run_tournament(100, games_per_match=20)
    assert len(pop.store.matches(last=2)) == 2 and pop.store.matches(last=0) == []
    with pytest.raises(ValueError, match="last must be None or a non-negative int"):
        pop.store.matches(last=last)


def test_replay_of_recorded_matches(pop):
    pop.add_bot("random")
    pop.run_tournament(600, games_per_match=25, n_envs=10)
    for match_id in (1, 7, pop.store.n_matches()):
        assert pop.replay(match_id).outcomes == pop.store.match(match_id).outcomes


def test_a_recorded_match_is_played_again_from_its_record_alone(pop):
    """Every seed of a match comes from its record (seeding.py): the VecEnv's is the match's,
    side A's bot is seeded ``player_seed(seed, 0)`` and B's ``player_seed(seed, 1)``. Played
    with those, from the public pieces (not Population.replay, which shares the tournament's
    code), each match of the random bot (as A and as B) gives the recorded outcomes."""
    from thrust_population.matches import play_match
    from thrust_population.players import make_bot
    from thrust_population.population import player_seed

    pop.add_bot("random")
    pop.run_tournament(600, games_per_match=40, n_envs=8)
    matches = [m for m in pop.store.matches() if "random" in (m.player_a, m.player_b)]
    assert {m.player_a == "random" for m in matches} == {True, False}  # as A and as B
    for m in matches:
        a = make_bot(m.player_a, pop.game, player_seed(m.seed, 0))
        b = make_bot(m.player_b, pop.game, player_seed(m.seed, 1))
        again = play_match(
            pop.env_id, a, b, m.games, n_envs=m.n_envs, seat=m.seat, seed=m.seed,
            env_factory=vs_opponent,
        )  # fmt: skip
        assert again.outcomes == m.outcomes


def test_seeds_derive_from_the_run_seed_and_match_index(pop):
    pop.run_tournament(100, games_per_match=10)
    seeds = [m.seed for m in pop.store.matches()]
    assert seeds == [match_seed(1, i) for i in range(10)]
    assert len(set(seeds)) == 10


class Interrupted(Exception):
    pass


def test_tournament_total_and_resumption_equal_an_uninterrupted_run(tmp_path):
    settings = {"games_per_match": 16, "n_envs": 8, "batch_matches": 3}
    whole = new_run(tmp_path / "whole", "Toy/LongDuel-v0")
    report = whole.run_tournament(1003, matchmaker=RandomMatchmaker(), **settings)
    assert report.total_games == whole.store.n_games() == 1003
    assert report.matches == whole.store.n_matches() == 63  # 62 of 16 and one of 11
    assert report.batches == 21
    # the same tournament, interrupted twice and resumed from a fresh process's view
    parts = new_run(tmp_path / "parts", "Toy/LongDuel-v0")
    for stop_after in (2, 5, None):
        batches = []

        def stop(ids, stop_after=stop_after, batches=batches):
            batches.append(ids)
            if len(batches) == stop_after:
                raise Interrupted

        parts.close()
        parts = Population.open(tmp_path / "parts", env_factory=vs_opponent)
        try:
            parts.run_tournament(1003, matchmaker=RandomMatchmaker(), on_batch=stop, **settings)
        except Interrupted:
            assert stop_after is not None
    assert log(parts.store) == log(whole.store)
    assert parts.store.ratings() == whole.store.ratings()
    again = parts.run_tournament(1003, games_per_match=16)
    assert again.games == 0
    whole.close()
    parts.close()


@pytest.mark.parametrize(
    "matchmaker",
    [ClosestRating(1), SelfPlay(2, 0.5), PFSP("variance")],
    ids=lambda m: m.describe(),
)
def test_tournaments_with_other_matchmakers(pop, matchmaker):
    report = pop.run_tournament(400, games_per_match=20, matchmaker=matchmaker)
    assert report.games == 400 and pop.store.verify() == []
    if isinstance(matchmaker, (SelfPlay, PFSP)):
        assert all("level:4" in (m.player_a, m.player_b) for m in pop.store.matches())


def test_the_ladder_orders_the_levels(pop):
    pop.add_bot("random")
    pop.run_tournament(3000, games_per_match=20)
    ladder = pop.ladder()
    order = [row.name for row in ladder.rows if row.name != "random"]
    assert order == LEVELS[::-1]
    elo = {row.name: row.elo for row in ladder.rows}
    assert elo["level:0"] < elo["level:2"] < elo["level:4"]
    for row in ladder.rows:
        assert row.bt_lower < row.bt < row.bt_upper and row.games > 0
    rates = ladder.win_rates
    i, j = ladder.names.index("level:4"), ladder.names.index("level:0")
    assert rates[i, j] > 0.9 and rates[i, j] + rates[j, i] == pytest.approx(1.0)
    text = ladder.format()
    assert "bt 95% interval" in text and "win rate" in text
    data = ladder.to_dict()
    assert [r["name"] for r in data["rows"]] == [r.name for r in ladder.rows]
    assert data["win_rates"][0][0] is None


def test_tournament_argument_checks(pop, tmp_path):
    with pytest.raises(ValueError, match="games_per_match"):
        pop.run_tournament(10, games_per_match=0)
    lonely = Population.create(tmp_path / "lonely", "Toy/Duel-v0", env_factory=vs_opponent)
    lonely.add_bot("level:1")
    with pytest.raises(ValueError, match="two members"):
        lonely.run_tournament(10)
    lonely.close()
    with pytest.raises(UnknownMember):
        pop.play("level:0", "ghost", 4)
    with pytest.raises(ValueError, match="two different"):
        pop.play("level:0", "level:0", 4)
