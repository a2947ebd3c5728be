"""The run store: one SQLite database (standard library ``sqlite3``, WAL) plus artifact files.

A run directory holds::

    population.sqlite     members, matches, ratings, rating history, run metadata
    artifacts/            frozen policy files of the members (``NAME.npz``, ``NAME.zip``)

Tables:

- ``meta(key, value)``: schema version, the game, the env factory, the Elo configuration, the run
  seed (JSON values);
- ``members``: name, kind (``bot``, ``numpy``, ``sb3``, ``callable``), spec, artifact path
  (relative to the run directory), lineage (parent, generation), creation time, JSON info;
- ``batches`` and ``matches``: every match with its players, A's seat, seed, number of envs,
  games, wins/draws/losses, the per-game outcome string (in the order the games finished),
  A's summed return, generation and time;
- ``ratings``: each member's current Elo and games; ``rating_history``: both players' Elo after
  each match.

Durability: every batch of matches is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction that
inserts the matches, replays their games through :class:`~thrust_population.ratings.Elo`
starting from the ratings *read inside the transaction*, and writes the new ratings and history.
WAL with ``synchronous=FULL``: a process killed at any moment loses at most the batch in flight,
the database stays consistent (``PRAGMA integrity_check``), and :meth:`Store.recompute_elo`
(a replay of the whole match log) equals the stored ratings exactly. Writers from several
processes serialise on SQLite's lock.

Damage: opening a run refuses a database without run metadata or of another format version
(:class:`StoreCorrupt`) and checks the metadata its reads depend on (the Elo configuration, the
seed); a damaged value, a member without its ratings row or a garbled outcome string is
reported by :meth:`Store.verify` as a problem and raised as :class:`StoreCorrupt` by whatever
reads it, so no command works from a guess.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from thrust_population.matches import (
    OUTCOME_SCORES,
    MatchResult,
    Seat,
    check_seed,
    outcome_counts,
)
from thrust_population.ratings import Elo, EloConfig
from thrust_population.rundir import RunLock, clean_leftovers, creation_leftovers

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "MatchRow",
    "Member",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
    "StoreNotFound",
    "UnknownMember",
]

DB_NAME = "population.sqlite"
ARTIFACTS = "artifacts"
SCHEMA_VERSION = 1
MEMBER_KINDS = ("bot", "numpy", "sb3", "callable")

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('bot', 'numpy', 'sb3', 'callable')),
    spec TEXT NOT NULL,
    artifact TEXT,
    parent INTEGER REFERENCES members(id),
    generation INTEGER NOT NULL CHECK (generation >= 0),
    created REAL NOT NULL,
    info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    matches INTEGER NOT NULL
);
CREATE TABLE matches (
    id INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL REFERENCES batches(id),
    env_id TEXT NOT NULL,
    player_a INTEGER NOT NULL REFERENCES members(id),
    player_b INTEGER NOT NULL REFERENCES members(id),
    seat TEXT NOT NULL CHECK (seat IN ('0', '1', 'alternate')),
    seed INTEGER NOT NULL,
    n_envs INTEGER NOT NULL CHECK (n_envs >= 1),
    games INTEGER NOT NULL CHECK (games >= 1),
    wins INTEGER NOT NULL,
    draws INTEGER NOT NULL,
    losses INTEGER NOT NULL,
    outcomes TEXT NOT NULL,
    score REAL NOT NULL,
    steps INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    created REAL NOT NULL,
    CHECK (player_a <> player_b),
    CHECK (wins + draws + losses = games AND length(outcomes) = games)
);
CREATE INDEX matches_by_pair ON matches (player_a, player_b);
CREATE TABLE ratings (
    member INTEGER PRIMARY KEY REFERENCES members(id),
    elo REAL NOT NULL,
    games INTEGER NOT NULL,
    last_match INTEGER REFERENCES matches(id)
);
CREATE TABLE rating_history (
    match INTEGER NOT NULL REFERENCES matches(id),
    member INTEGER NOT NULL REFERENCES members(id),
    elo REAL NOT NULL,
    PRIMARY KEY (match, member)
);
"""


class StoreError(Exception):
    """A run directory that cannot be used."""


class StoreNotFound(StoreError):
    """No run at that path."""


class StoreCorrupt(StoreError):
    """The run's database is damaged or is not a thrust-population run."""


class StoreLocked(StoreError):
    """Another process holds the database's lock for longer than the timeout."""


class UnknownMember(StoreError, KeyError):
    """No member of that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown member"


@dataclass(frozen=True)
class Member:
    """A member of the population.

    Attributes:
        id: database id (creation order)
        name: unique name
        kind: ``"bot"``, ``"numpy"``, ``"sb3"`` or ``"callable"``
        spec: the bot spec, or where the policy came from
        artifact: the frozen policy file relative to the run directory (None for bots)
        parent: the member this one was derived from (None for roots)
        generation: 0 for roots, the parent's generation + 1 by default
        created: creation time (seconds since the epoch)
        info: free JSON metadata (e.g. the artifact's SHA-256, the SB3 class)
    """

    id: int
    name: str
    kind: str
    spec: str
    artifact: str | None
    parent: str | None
    generation: int
    created: float
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchRow:
    """A recorded match (see :class:`~thrust_population.matches.MatchResult`), from A's side."""

    id: int
    batch: int
    env_id: str
    player_a: str
    player_b: str
    seat: Seat
    seed: int
    n_envs: int
    games: int
    wins: int
    draws: int
    losses: int
    outcomes: str
    score: float
    steps: int
    generation: int
    created: float

    @property
    def points(self) -> float:
        """A's score with draws counting half."""
        return self.wins + 0.5 * self.draws

    def scores(self) -> list[float]:
        return [OUTCOME_SCORES[c] for c in self.outcomes]


def _seat_text(seat: Seat) -> str:
    if seat == "alternate":
        return "alternate"
    if seat in (0, 1) and not isinstance(seat, bool):
        return str(int(seat))
    raise ValueError(f"seat must be 0, 1 or 'alternate', got {seat!r}")


def _seat_value(text: str) -> Seat:
    return "alternate" if text == "alternate" else int(text)


def optional_count(name: str, value: Any, meaning: str) -> int | None:
    """A record reader's optional count argument: None or an int >= 0 (``meaning`` says what
    it is, for the error).

    :raises ValueError: anything else (a negative count would silently mean "all" in SQL)
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be None or {meaning}, got {value!r}")
    return int(value)


def check_last(last: Any) -> int | None:
    """The ``last`` argument of the record readers: None (everything) or an int >= 0."""
    return optional_count("last", last, "a non-negative int")


def check_through(through: Any) -> int | None:
    """The ``through`` argument of the record readers: None (the whole record) or a generation,
    an int >= 0 (the record as it stood at the end of that league generation)."""
    return optional_count("through", through, "a generation (an int >= 0)")


def _elo_meta_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with a run's recorded Elo configuration (None: nothing)."""
    if "elo" not in meta:
        return "no Elo configuration (meta key 'elo')"
    value = meta["elo"]
    if not isinstance(value, dict):
        return f"the Elo configuration (meta key 'elo') must be a JSON object, got {value!r}"
    unknown = sorted(set(value) - set(EloConfig.__dataclass_fields__))
    if unknown:
        return f"the Elo configuration (meta key 'elo') has unknown keys {unknown}"
    try:
        EloConfig.from_dict(value)
    except (TypeError, ValueError) as exc:
        return f"bad Elo configuration (meta key 'elo'): {exc}"
    return None


def _seed_meta_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with a run's recorded seed (None: nothing)."""
    if "seed" not in meta:
        return "no run seed (meta key 'seed')"
    try:
        check_seed(meta["seed"])
    except ValueError as exc:
        return f"bad run seed (meta key 'seed'): {exc}"
    return None


#: the checks of the metadata a run's reads depend on (key -> what is wrong, or None); a
#: damaged value is recorded when the run is opened, reported by :meth:`Store.verify` and
#: raised as :class:`StoreCorrupt` by whatever reads it
_META_CHECKS = {"elo": _elo_meta_problem, "seed": _seed_meta_problem}


_CORRUPT_HINTS = ("not a database", "malformed", "corrupt", "no such table", "no such column")


def _classify(exc: sqlite3.Error, where: Path) -> StoreError:
    message = str(exc)
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreLocked(f"{where}: database is locked by another process ({message})")
    if any(hint in lowered for hint in _CORRUPT_HINTS):
        return StoreCorrupt(f"{where}: damaged or not a thrust-population run ({message})")
    return StoreError(f"{where}: {message}")


class Store:
    """A run directory's database (open one with :meth:`open` or :meth:`create`).

    :param directory: the run directory
    :param connection: an open connection to its database
    """

    def __init__(
        self, directory: Path, connection: sqlite3.Connection, lock: RunLock | None = None
    ) -> None:
        self.directory = directory
        self._db = connection
        #: the run's writer lock when this store holds it (:mod:`thrust_population.rundir`)
        self.lock = lock
        self._meta: dict[str, Any] = {}
        self._meta_problems: dict[str, str] = {}
        self._load_meta()

    # -- opening and creating ------------------------------------------------------------------

    @staticmethod
    def database_path(directory: str | os.PathLike[str]) -> Path:
        return Path(directory) / DB_NAME

    @classmethod
    def exists(cls, directory: str | os.PathLike[str]) -> bool:
        """Whether ``directory`` holds a run database (not whether it is intact)."""
        return cls.database_path(directory).is_file()

    @classmethod
    def _connect(cls, path: Path, timeout: float, readonly: bool) -> sqlite3.Connection:
        if readonly:
            # A WAL database opened read-only still writes its -shm index; in a directory this
            # process cannot write (a read-only mount, another user's run) SQLite can only read
            # it as immutable, which is exact for a cleanly closed run (no -wal left over).
            immutable = not os.access(path.parent, os.W_OK)
            mode = "immutable=1" if immutable else "mode=ro"
            uri = f"file:{quote(str(path.resolve()))}?{mode}"
            db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        else:
            db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _use_wal(db: sqlite3.Connection, path: Path) -> None:
        """Switch a writer's connection to WAL with ``synchronous=FULL``. This writes the
        database file (its header), so it is done only to a run's database once its metadata
        was read (or to a new one): a foreign SQLite file is refused unchanged."""
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the database to WAL (got {mode})")
        db.execute("PRAGMA synchronous = FULL")

    @classmethod
    def _open_store(
        cls, directory: Path, timeout: float, readonly: bool, lock: RunLock | None = None
    ) -> Store:
        """Connect to ``directory``'s database, read and check its metadata, then (a writer)
        switch it to WAL; the connection is closed on any failure."""
        path = cls.database_path(directory)
        db = cls._connect(path, timeout, readonly)
        try:
            store = cls(directory, db, lock)
            if not readonly:
                cls._use_wal(db, path)
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        readonly: bool = False,
        exclusive: bool = False,
    ) -> Store:
        """Open an existing run.

        :param directory: the run directory
        :param timeout: seconds to wait for another process's lock before :class:`StoreLocked`
        :param readonly: open the database read-only (nothing can be written)
        :param exclusive: hold the run's writer lock (:class:`~thrust_population.rundir.RunLock`)
            until :meth:`close`, and remove the leftovers of killed writers
        :raises RunBusy: ``exclusive`` and another process holds the writer lock
        :raises StoreNotFound: no run database in ``directory``
        :raises StoreCorrupt: the database is damaged or not a run
        :raises StoreLocked: another process holds the lock
        """
        directory = Path(directory)
        path = cls.database_path(directory)
        if not directory.is_dir():
            raise StoreNotFound(f"no run directory at {directory}")
        if not path.is_file():
            raise StoreNotFound(f"{directory} is not a run directory (no {DB_NAME})")
        try:
            # the database first: a damaged run is reported before the lock file is written
            store = cls._open_store(directory, timeout, readonly)
        except sqlite3.Error as exc:
            raise _classify(exc, directory) from exc
        try:
            if exclusive and not readonly:
                store.lock = RunLock(directory).acquire()
                clean_leftovers(directory)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        env_id: str,
        *,
        elo: EloConfig | None = None,
        env_factory: str | None = None,
        seed: int = 0,
        timeout: float = 5.0,
        extra_meta: dict[str, Any] | None = None,
    ) -> Store:
        """Create a new run at ``directory`` (which must not exist, or be an empty directory).

        The database is built in a temporary sibling directory and renamed into place, so a
        failure or a kill leaves either nothing or a complete, empty run (a killed creation's
        hidden ``.NAME.creating-<hex>`` directory is removed by the next creation or writer).
        The new store holds the run's writer lock (taken in the staging directory) until
        :meth:`close`.

        :param env_id: the game the run plays
        :param elo: the Elo configuration (fixed for the run's lifetime)
        :param env_factory: ``"module:function"`` of a custom env factory, or None (thrust_envs)
        :param seed: the run's seed (match seeds derive from it), an int in ``[0, 2**63)``
        :param extra_meta: more JSON metadata
        :raises ValueError: a bad seed (nothing is written)
        """
        seed = check_seed(seed)
        directory = Path(directory)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise StoreError(f"{directory} exists and is not an empty directory")
        elo = EloConfig() if elo is None else elo
        parent = directory.parent
        parent.mkdir(parents=True, exist_ok=True)
        for leftover in creation_leftovers(directory):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = parent / f".{directory.name}.creating-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        lock = RunLock(staging).acquire()
        try:
            (staging / ARTIFACTS).mkdir()
            # The staging directory is private until it is renamed: no transaction needed.
            db = cls._connect(cls.database_path(staging), timeout, False)
            try:
                cls._use_wal(db, cls.database_path(staging))  # a new file of this run's own
                db.executescript(_SCHEMA)
                meta = {
                    "schema_version": SCHEMA_VERSION,
                    "env_id": env_id,
                    "env_factory": env_factory,
                    "elo": elo.to_dict(),
                    "seed": seed,
                    "created": time.time(),
                    **(extra_meta or {}),
                }
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [(key, json.dumps(value)) for key, value in meta.items()],
                )
            finally:
                db.close()
            if directory.exists():
                directory.rmdir()
            os.replace(staging, directory)
            lock.moved(directory)
            return cls._open_store(directory, timeout, False, lock)
        except BaseException as exc:
            lock.release()
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, sqlite3.Error):
                raise _classify(exc, directory) from exc
            raise

    def close(self) -> None:
        self._db.close()
        if self.lock is not None:
            self.lock.release()

    def check_writable(self) -> None:
        """Take and release the write lock now, so that a database locked by another process is
        reported (:class:`StoreLocked`) before any work is done."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ROLLBACK")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _classify(exc, self.directory) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return self._db.execute(sql, parameters).fetchall()

    def _load_meta(self) -> None:
        """Read the metadata: refuse a database that is not a run of this format, and record
        what is wrong with the values its reads depend on (:data:`_META_CHECKS`)."""
        try:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
            meta = {key: json.loads(value) for key, value in rows}
        except sqlite3.Error as exc:
            raise _classify(exc, self.directory) from exc
        except (json.JSONDecodeError, TypeError) as exc:
            raise StoreCorrupt(f"{self.directory}: damaged run metadata ({exc})") from exc
        if "schema_version" not in meta or "env_id" not in meta:
            raise StoreCorrupt(f"{self.directory}: not a thrust-population run (no metadata)")
        version = meta["schema_version"]
        if isinstance(version, bool) or not isinstance(version, int):
            # e.g. the string "1": "version 1, reads version 1" would make no sense
            raise StoreCorrupt(
                f"{self.directory}: damaged run metadata: the format version (meta key "
                f"'schema_version') must be an integer, got {version!r}"
            )
        if version != SCHEMA_VERSION:
            raise StoreCorrupt(
                f"{self.directory}: run format version {meta['schema_version']}, this "
                f"thrust_population reads version {SCHEMA_VERSION}"
            )
        self._meta = meta
        self._meta_problems = {
            key: problem for key, check in _META_CHECKS.items() if (problem := check(meta))
        }

    def metadata_problems(self) -> list[str]:
        """What is wrong with the run's metadata (empty when intact)."""
        return list(self._meta_problems.values())

    def _checked_meta(self, key: str) -> Any:
        """The metadata value ``key``, checked when the run was opened.

        :raises StoreCorrupt: the value is missing or damaged
        """
        problem = self._meta_problems.get(key)
        if problem is not None:
            raise StoreCorrupt(f"{self.directory}: damaged run metadata: {problem}")
        return self._meta[key]

    # -- metadata ------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.database_path(self.directory)

    @property
    def artifacts(self) -> Path:
        """The directory of the members' policy files."""
        return self.directory / ARTIFACTS

    @property
    def env_id(self) -> str:
        return str(self._meta["env_id"])

    @property
    def env_factory(self) -> str | None:
        return self._meta.get("env_factory")

    @property
    def seed(self) -> int:
        """The run's seed (:class:`StoreCorrupt` if its metadata is damaged)."""
        return int(self._checked_meta("seed"))

    @property
    def elo_config(self) -> EloConfig:
        """The run's Elo configuration (:class:`StoreCorrupt` if its metadata is damaged)."""
        return EloConfig.from_dict(self._checked_meta("elo"))

    def meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` (its own transaction)."""
        text = json.dumps(value)
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, text))
        self._meta[key] = json.loads(text)
        check = _META_CHECKS.get(key)
        problem = None if check is None else check(self._meta)
        if problem is None:
            self._meta_problems.pop(key, None)
        else:
            self._meta_problems[key] = problem

    # -- members -------------------------------------------------------------------------------

    def add_member(
        self,
        name: str,
        kind: str,
        spec: str,
        *,
        artifact: str | None = None,
        parent: str | None = None,
        generation: int | None = None,
        info: dict[str, Any] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> Member:
        """Add a member (and its start rating) in one transaction.

        :param generation: default: the parent's generation + 1, or 0 without a parent
        :param before_commit: called inside the transaction once the member's rows are written
            (e.g. to move its artifact into place while this writer holds the lock and the
            name); the member exists if and only if this method returns
        :raises StoreError: a name already taken, an unknown parent, a bad kind
        """
        if kind not in MEMBER_KINDS:
            raise ValueError(f"member kind must be one of {MEMBER_KINDS}, got {kind!r}")
        info_text = json.dumps(info or {})
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM members WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"{self.directory}: a member named {name!r} already exists")
            parent_id = None
            if parent is not None:
                row = db.execute(
                    "SELECT id, generation FROM members WHERE name = ?", (parent,)
                ).fetchone()
                if row is None:
                    raise UnknownMember(f"{self.directory}: no member named {parent!r} (parent)")
                parent_id = row[0]
                if generation is None:
                    generation = row[1] + 1
            generation = 0 if generation is None else int(generation)
            if generation < 0:
                raise ValueError(f"generation must be >= 0, got {generation}")
            cursor = db.execute(
                "INSERT INTO members (name, kind, spec, artifact, parent, generation, created, "
                "info) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, kind, spec, artifact, parent_id, generation, time.time(), info_text),
            )
            member_id = cursor.lastrowid
            db.execute(
                "INSERT INTO ratings (member, elo, games, last_match) VALUES (?, ?, 0, NULL)",
                (member_id, self.elo_config.start_rating(name)),
            )
            # read before the commit: nothing may fail once it is done
            member = self._member(
                db.execute(self._MEMBER_SQL + " WHERE m.id = ?", (member_id,)).fetchone()
            )
            if before_commit is not None:
                before_commit()
        return member

    _MEMBER_SQL = (
        "SELECT m.id, m.name, m.kind, m.spec, m.artifact, p.name, m.generation, m.created, "
        "m.info FROM members m LEFT JOIN members p ON m.parent = p.id"
    )

    def _member(self, row: tuple[Any, ...]) -> Member:
        try:
            info = json.loads(row[8])
        except json.JSONDecodeError as exc:
            raise StoreCorrupt(
                f"{self.directory}: damaged info of member {row[1]!r} ({exc})"
            ) from exc
        return Member(
            id=row[0],
            name=row[1],
            kind=row[2],
            spec=row[3],
            artifact=row[4],
            parent=row[5],
            generation=row[6],
            created=row[7],
            info=info,
        )

    def member(self, name: str) -> Member:
        """The member called ``name``.

        :raises UnknownMember: if there is none
        """
        rows = self._query(self._MEMBER_SQL + " WHERE m.name = ?", (name,))
        if not rows:
            known = ", ".join(self.member_names()) or "none"
            raise UnknownMember(f"{self.directory}: no member named {name!r} (members: {known})")
        return self._member(rows[0])

    def members(self) -> list[Member]:
        """All members in creation order."""
        return [self._member(row) for row in self._query(self._MEMBER_SQL + " ORDER BY m.id")]

    def member_names(self) -> list[str]:
        return [row[0] for row in self._query("SELECT name FROM members ORDER BY id")]

    def artifact_path(self, member: Member) -> Path | None:
        """The absolute path of a member's policy file (None for bots and callables)."""
        return None if member.artifact is None else self.directory / member.artifact

    # -- matches -------------------------------------------------------------------------------

    def record_batch(
        self,
        results: Sequence[tuple[str, str, MatchResult]],
        *,
        generation: int | None = None,
    ) -> list[int]:
        """Record a batch of matches ``(a, b, result)`` in one transaction, updating Elo.

        The ratings are read inside the transaction, so concurrent writers stay consistent.

        :param results: the matches, A's name, B's name and the result from A's side
        :param generation: the population generation of the batch (default: the highest
            member generation)
        :return: the new match ids, in order
        """
        if not results:
            return []
        for a, b, result in results:
            if a == b:
                raise ValueError(f"a match needs two different members, got {a!r} twice")
            outcome_counts(result.outcomes)
            if result.games < 1:
                raise ValueError(f"match {a} vs {b} has no games")
            if result.env_id != self.env_id:
                raise ValueError(
                    f"match {a} vs {b} was played on {result.env_id}, this run plays {self.env_id}"
                )
        config = self.elo_config
        now = time.time()
        ids = []
        with self._transaction() as db:
            names = {r[0] for r in results} | {r[1] for r in results}
            rows = db.execute(
                f"SELECT m.name, m.id, r.elo, r.games FROM members m JOIN ratings r "
                f"ON r.member = m.id WHERE m.name IN ({','.join('?' * len(names))})",
                sorted(names),
            ).fetchall()
            known = {row[0]: row for row in rows}
            missing = sorted(names - known.keys())
            if missing:
                existing = {name for (name,) in db.execute("SELECT name FROM members")}
                if missing[0] in existing:  # a member without its ratings row: damage
                    raise StoreCorrupt(f"{self.directory}: {self._unrated(missing)}")
                raise UnknownMember(f"{self.directory}: no member named {missing[0]!r}")
            ids_by_name = {name: row[1] for name, row in known.items()}
            games = {name: row[3] for name, row in known.items()}
            elo = Elo(config, {name: row[2] for name, row in known.items()})
            if generation is None:
                generation = db.execute(
                    "SELECT COALESCE(MAX(generation), 0) FROM members"
                ).fetchone()[0]
            batch = db.execute(
                "INSERT INTO batches (created, matches) VALUES (?, ?)", (now, len(results))
            ).lastrowid
            for a, b, result in results:
                wins, draws, losses = outcome_counts(result.outcomes)
                match_id = db.execute(
                    "INSERT INTO matches (batch, env_id, player_a, player_b, seat, seed, n_envs, "
                    "games, wins, draws, losses, outcomes, score, steps, generation, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        batch,
                        result.env_id,
                        ids_by_name[a],
                        ids_by_name[b],
                        _seat_text(result.seat),
                        int(result.seed),
                        int(result.n_envs),
                        result.games,
                        wins,
                        draws,
                        losses,
                        result.outcomes,
                        float(result.score),
                        int(result.steps),
                        int(generation),
                        now,
                    ),
                ).lastrowid
                ra, rb = elo.update_games(a, b, result.scores())
                games[a] += result.games
                games[b] += result.games
                for name, rating in ((a, ra), (b, rb)):
                    db.execute(
                        "UPDATE ratings SET elo = ?, games = ?, last_match = ? WHERE member = ?",
                        (rating, games[name], match_id, ids_by_name[name]),
                    )
                    db.execute(
                        "INSERT INTO rating_history (match, member, elo) VALUES (?, ?, ?)",
                        (match_id, ids_by_name[name], rating),
                    )
                ids.append(int(match_id))
        return ids

    _MATCH_SQL = (
        "SELECT x.id, x.batch, x.env_id, a.name, b.name, x.seat, x.seed, x.n_envs, x.games, "
        "x.wins, x.draws, x.losses, x.outcomes, x.score, x.steps, x.generation, x.created "
        "FROM matches x JOIN members a ON x.player_a = a.id JOIN members b ON x.player_b = b.id"
    )

    @staticmethod
    def _match(row: tuple[Any, ...]) -> MatchRow:
        values = list(row)
        values[5] = _seat_value(values[5])
        return MatchRow(*values)

    def matches(self, member: str | None = None, *, last: int | None = None) -> list[MatchRow]:
        """Recorded matches in order (those involving ``member``; only the ``last`` ones).

        :raises ValueError: ``last`` not None or an int >= 0
        """
        last = check_last(last)
        sql, parameters = self._MATCH_SQL, []
        if member is not None:
            member_id = self.member(member).id
            sql += " WHERE x.player_a = ? OR x.player_b = ?"
            parameters = [member_id, member_id]
        if last is not None:
            sql += " ORDER BY x.id DESC LIMIT ?"
            parameters.append(last)
            return [self._match(row) for row in reversed(self._query(sql, parameters))]
        return [self._match(row) for row in self._query(sql + " ORDER BY x.id", parameters)]

    def match(self, match_id: int) -> MatchRow:
        rows = self._query(self._MATCH_SQL + " WHERE x.id = ?", (int(match_id),))
        if not rows:
            raise StoreError(f"{self.directory}: no match with id {match_id}")
        return self._match(rows[0])

    def counts(self, *, through: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(names, score, games)``: members in creation order and the ``[n, n]`` score and game
        matrices of the whole record (aggregated in SQL), or of its matches of generations up to
        ``through``.

        :raises ValueError: ``through`` not None or an int >= 0
        """
        from thrust_population.ratings import pair_counts

        where, parameters = self._through(through)
        members = self._query("SELECT id, name FROM members ORDER BY id")
        index = {member_id: i for i, (member_id, _) in enumerate(members)}
        rows = self._query(
            "SELECT player_a, player_b, SUM(wins) + 0.5 * SUM(draws), SUM(games) FROM matches "
            f"{where} GROUP BY player_a, player_b",
            parameters,
        )
        n = len(members)
        if not rows:
            return [name for _, name in members], np.zeros((n, n)), np.zeros((n, n))
        data = np.array(rows, dtype=np.float64)
        a = np.array([index[int(v)] for v in data[:, 0]], dtype=np.int64)
        b = np.array([index[int(v)] for v in data[:, 1]], dtype=np.int64)
        score, games = pair_counts(a, b, data[:, 2], data[:, 3], n)
        return [name for _, name in members], score, games

    @staticmethod
    def _through(through: Any) -> tuple[str, list[int]]:
        """The ``WHERE`` clause (and its parameters) of the matches of generations up to
        ``through`` (everything for None)."""
        through = check_through(through)
        return ("", []) if through is None else ("WHERE generation <= ?", [through])

    def n_matches(self, *, through: int | None = None) -> int:
        """Recorded matches (those of generations up to ``through``).

        :raises ValueError: ``through`` not None or an int >= 0
        """
        where, parameters = self._through(through)
        return int(self._query(f"SELECT COUNT(*) FROM matches {where}", parameters)[0][0])

    def n_games(self) -> int:
        return int(self._query("SELECT COALESCE(SUM(games), 0) FROM matches")[0][0])

    def n_batches(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM batches")[0][0])

    # -- ratings -------------------------------------------------------------------------------

    def ratings(self, *, through: int | None = None) -> dict[str, float]:
        """Every member's stored Elo, in creation order; with ``through``, its Elo as it stood
        just after the last match of a generation up to ``through`` (from the rating history;
        the start rating of a member who had not played by then): what a league's matchmaker saw
        while generation ``through + 1`` trained, and what generation ``through``'s report
        shows, however many generations were recorded since.

        :raises StoreCorrupt: a member has no ratings row
        :raises ValueError: ``through`` not None or an int >= 0
        """
        rows = self._query(
            "SELECT m.name, r.elo FROM members m LEFT JOIN ratings r ON r.member = m.id "
            "ORDER BY m.id"
        )
        unrated = [name for name, elo in rows if elo is None]
        if unrated:
            raise StoreCorrupt(f"{self.directory}: {self._unrated(unrated)}")
        if check_through(through) is None:
            return {name: float(elo) for name, elo in rows}
        config = self.elo_config
        rows = self._query(
            "SELECT m.name, (SELECT h.elo FROM rating_history h WHERE h.member = m.id AND "
            "h.match <= (SELECT MAX(id) FROM matches WHERE generation <= ?) "
            "ORDER BY h.match DESC LIMIT 1) FROM members m ORDER BY m.id",
            (int(through),),
        )
        return {
            name: config.start_rating(name) if elo is None else float(elo) for name, elo in rows
        }

    @staticmethod
    def _unrated(names: Sequence[str]) -> str:
        """The problem of members without a ratings row."""
        listed = ", ".join(repr(name) for name in names)
        return f"no stored rating (ratings row missing) for member {listed}"

    def games_played(self) -> dict[str, int]:
        """Games each member has played, in creation order."""
        rows = self._query(
            "SELECT m.name, r.games FROM members m JOIN ratings r ON r.member = m.id ORDER BY m.id"
        )
        return {name: int(games) for name, games in rows}

    def rating_history(self) -> list[tuple[int, str, float]]:
        """``(match id, member, Elo after that match)`` in match order."""
        rows = self._query(
            "SELECT h.match, m.name, h.elo FROM rating_history h JOIN members m "
            "ON h.member = m.id ORDER BY h.match, h.member"
        )
        return [(int(match), name, float(elo)) for match, name, elo in rows]

    def recompute_elo(self) -> dict[str, float]:
        """Replay the whole match log through :class:`Elo`: equals :meth:`ratings` exactly.

        :raises StoreCorrupt: a match's outcome string is damaged, or the Elo metadata is
        """
        names = self.member_names()
        elo = Elo(self.elo_config)
        with self._errors():
            cursor = self._db.execute(
                "SELECT x.id, a.name, b.name, x.outcomes FROM matches x JOIN members a ON "
                "x.player_a = a.id JOIN members b ON x.player_b = b.id ORDER BY x.id"
            )
            for match_id, a, b, outcomes in cursor:
                elo.update_games(a, b, self._scores(match_id, outcomes))
        return {name: elo.rating(name) for name in names}

    def _scores(self, match_id: int, outcomes: str) -> list[float]:
        """A's game scores of a stored match's outcome string (StoreCorrupt if damaged)."""
        try:
            return [OUTCOME_SCORES[c] for c in outcomes]
        except (KeyError, TypeError):
            raise StoreCorrupt(
                f"{self.directory}: match {match_id} has a damaged outcome string {outcomes!r}"
            ) from None

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for an intact database."""
        rows = self._query("PRAGMA integrity_check")
        return "; ".join(str(row[0]) for row in rows)

    def verify(self) -> list[str]:
        """Problems found (empty when the run is consistent): the metadata, the integrity
        check, foreign keys, every member's ratings row, stored Elo against a replay of the log,
        per-member game counts, and the history. Damage is reported, not raised."""
        problems = self.metadata_problems()
        integrity = self.integrity_check()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        if self._query("PRAGMA foreign_key_check"):
            problems.append("foreign_key_check failed")
        rows = self._query(
            "SELECT m.name, r.elo, r.games FROM members m LEFT JOIN ratings r "
            "ON r.member = m.id ORDER BY m.id"
        )
        unrated = [name for name, elo, _ in rows if elo is None]
        if unrated:
            problems.append(self._unrated(unrated))
        stored = {name: float(elo) for name, elo, _ in rows if elo is not None}
        try:
            # without an Elo configuration (a metadata problem above) there is nothing to replay
            replayed = None if "elo" in self._meta_problems else self.recompute_elo()
        except StoreCorrupt as exc:
            problems.append(f"cannot replay the match log: {exc}")
        else:
            for name, value in stored.items():
                if replayed is not None and value != replayed[name]:
                    problems.append(f"Elo of {name}: stored {value!r}, replayed {replayed[name]!r}")
        for match_id, outcomes, wins, draws, losses in self._query(
            "SELECT id, outcomes, wins, draws, losses FROM matches ORDER BY id"
        ):
            try:
                counted_outcomes = outcome_counts(outcomes)
            except (ValueError, TypeError):
                continue  # reported by the replay
            if counted_outcomes != (wins, draws, losses):
                problems.append(
                    f"match {match_id}: outcomes {outcomes!r} are not {wins}-{draws}-{losses} "
                    "(wins-draws-losses)"
                )
        counted = dict(
            self._query(
                "SELECT m.name, COALESCE((SELECT SUM(games) FROM matches x WHERE x.player_a = "
                "m.id OR x.player_b = m.id), 0) FROM members m"
            )
        )
        for name, _, games in rows:
            if games is not None and games != counted[name]:
                problems.append(f"games of {name}: stored {games}, counted {counted[name]}")
        last = self._query(
            "SELECT m.name, h.elo FROM rating_history h JOIN members m ON h.member = m.id "
            "WHERE h.match = (SELECT MAX(match) FROM rating_history g WHERE g.member = h.member)"
        )
        for name, value in last:
            if name in stored and value != stored[name]:
                problems.append(f"history of {name} ends at {value!r}, stored {stored[name]!r}")
        return problems
