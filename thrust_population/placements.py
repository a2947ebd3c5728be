"""Ratings for N-player games: each game's placement (a ranking with ties) through ``openskill``'s
Plackett–Luce model, recorded in the run store so that the ratings can be refitted from the log.

A free-for-all run is an ordinary run directory (:class:`~thrust_population.store.Store`) whose
metadata says ``"players": "ffa"`` (:data:`FFA_META`) and holds the model's configuration; its
games live in three more tables, created with ``CREATE TABLE IF NOT EXISTS`` (additive: a
two-player run never has them, and the schema version is unchanged):

- ``ffa_games``: every game, its batch, seed, steps, time and league generation (NULL outside a
  league's evaluation);
- ``ffa_seats``: per game and seat, the member, its place (1 = first; tied players share the
  best place of their group, e.g. ``1, 2, 2, 4``) and its return;
- ``ffa_ratings``: each member's current ``mu``, ``sigma`` and games; ``ffa_rating_history``:
  every seated member's ``mu`` and ``sigma`` after each game.

:meth:`PlacementLog.record_games` writes a batch of games in one ``BEGIN IMMEDIATE`` transaction,
rating them in order from the ratings read inside it, so the stored ratings always equal
:meth:`PlacementLog.refit` (the whole log replayed in game order; tested exactly equal).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from thrust_population.matches import check_seed
from thrust_population.store import (
    Store,
    StoreCorrupt,
    StoreError,
    UnknownMember,
    check_last,
    check_through,
)

__all__ = [
    "FFA_META",
    "FfaGame",
    "PlacementConfig",
    "PlacementLog",
    "is_ffa_run",
    "places_from_keys",
]

#: the run metadata key naming the kind of run ("ffa" for an N-player run)
FFA_META = "players"
#: the run metadata key of the :class:`PlacementConfig`
CONFIG_META = "placement_rating"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ffa_games (
    id INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL REFERENCES batches(id),
    seed INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    created REAL NOT NULL,
    generation INTEGER
);
CREATE TABLE IF NOT EXISTS ffa_seats (
    game INTEGER NOT NULL REFERENCES ffa_games(id),
    seat INTEGER NOT NULL CHECK (seat >= 0),
    member INTEGER NOT NULL REFERENCES members(id),
    place INTEGER NOT NULL CHECK (place >= 1),
    score REAL NOT NULL,
    PRIMARY KEY (game, seat)
);
CREATE TABLE IF NOT EXISTS ffa_ratings (
    member INTEGER PRIMARY KEY REFERENCES members(id),
    mu REAL NOT NULL,
    sigma REAL NOT NULL,
    games INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ffa_rating_history (
    game INTEGER NOT NULL REFERENCES ffa_games(id),
    member INTEGER NOT NULL REFERENCES members(id),
    mu REAL NOT NULL,
    sigma REAL NOT NULL,
    PRIMARY KEY (game, member)
);
"""


def is_ffa_run(store: Store) -> bool:
    """Whether ``store`` is an N-player (free-for-all) run."""
    return store.meta(FFA_META) == "ffa"


def places_from_keys(keys: Sequence[Any]) -> list[int]:
    """Places (1 = first) from sortable keys, larger keys placing higher; equal keys tie and
    share the best place of their group (competition ranking: keys ``3, 1, 3, 0`` give places
    ``1, 3, 1, 4``)."""
    return [1 + sum(1 for other in keys if other > key) for key in keys]


@dataclass(frozen=True)
class PlacementConfig:
    """The Plackett–Luce model's parameters (openskill's ``PlackettLuce``; fixed for a run).

    :param mu: a new player's mean skill
    :param sigma: a new player's skill uncertainty (standard deviation)
    :param beta: the performance noise of one game
    :param tau: the additive dynamics (sigma grows by it before each game, so ratings keep
        following a player that changes)
    """

    mu: float = 25.0
    sigma: float = 25.0 / 3.0
    beta: float = 25.0 / 6.0
    tau: float = 25.0 / 300.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"PlacementConfig.{name} must be a finite number, got {value!r}")
        if self.sigma <= 0 or self.beta <= 0 or self.tau < 0:
            raise ValueError(f"PlacementConfig needs sigma > 0, beta > 0 and tau >= 0, got {self}")

    def to_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlacementConfig:
        """The configuration :meth:`to_dict` wrote.

        :raises ValueError: not a JSON object of the known keys with finite numbers
        """
        if not isinstance(data, dict):
            raise ValueError(f"a placement configuration is a JSON object, got {data!r}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown placement configuration keys {unknown}")
        return cls(**data)

    def model(self) -> Any:
        """openskill's ``PlackettLuce`` with these parameters (imported on first use)."""
        from openskill.models import PlackettLuce

        return PlackettLuce(mu=self.mu, sigma=self.sigma, beta=self.beta, tau=self.tau)


@dataclass(frozen=True)
class FfaGame:
    """One N-player game's record: per seat (in seat order) the member, its place (1 = first,
    tied players sharing the best place of their group: ``1, 2, 2, 4``, a three-way tie for
    first ``1, 1, 1``) and its return; the game's seed and steps.

    :raises ValueError: fewer than two seats, a member twice, places that are not such a
        ranking, a return that is not a finite number, a seed not an int in ``[0, 2**63)`` or
        steps not an int >= 0
    """

    members: tuple[str, ...]
    places: tuple[int, ...]
    scores: tuple[float, ...]
    seed: int
    steps: int

    def __post_init__(self) -> None:
        n = len(self.members)
        if n < 2 or len(self.places) != n or len(self.scores) != n:
            raise ValueError(
                f"an N-player game needs at least two seats and one place and score per seat, "
                f"got {n} members, {len(self.places)} places, {len(self.scores)} scores"
            )
        if len(set(self.members)) != n:
            raise ValueError(f"a member sits twice in one game: {self.members}")
        # a place is stored as an INTEGER: 1.5 would become 1, a loss recorded as a tie
        if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in self.places):
            raise ValueError(f"places must be integers, got {self.places}")
        if any(not 1 <= p <= n for p in self.places):
            raise ValueError(f"places must be in [1, {n}], got {self.places}")
        # the summaries read place 1 as a win and average the places: (2, 2, 2) would be a
        # game nobody won, (1, 1, 2) a better mean place than the (1, 1, 3) it rates as
        if list(self.places) != places_from_keys([-p for p in self.places]):
            raise ValueError(
                f"places must rank the seats with ties sharing the best place of their group "
                f"(e.g. 1, 2, 2, 4), got {self.places}"
            )
        # stored as REAL NOT NULL: a NaN return failed as a "NOT NULL constraint" in the store
        if any(
            isinstance(r, bool) or not isinstance(r, numbers.Real) or not math.isfinite(r)
            for r in self.scores
        ):
            raise ValueError(f"returns (scores) must be finite numbers, got {self.scores}")
        check_seed(self.seed)  # stored as an INTEGER: 1.5 would become 1
        steps = self.steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValueError(f"steps must be an int >= 0, got {steps!r}")


def _rate(model: Any, ratings: list[Any], places: Sequence[int]) -> list[Any]:
    """Each seat's rating after one game (openskill: lower ranks win, equal ranks tie)."""
    teams = model.rate([[r] for r in ratings], ranks=[float(p) for p in places])
    return [team[0] for team in teams]


class PlacementLog:
    """The N-player games of a run store: recording, ratings, refit, history and summaries.

    :param store: an open run (:func:`is_ffa_run`)
    """

    def __init__(self, store: Store) -> None:
        if not is_ffa_run(store):
            raise StoreError(f"{store.directory} is a two-player run, not an N-player run")
        problems = self.metadata_problems(store)
        if problems:
            raise StoreCorrupt(f"{store.directory}: damaged run metadata: {problems[0]}")
        self.store = store
        self.config = PlacementConfig.from_dict(store.meta(CONFIG_META))
        #: players per game
        self.seats = int(store.meta("seats"))

    @staticmethod
    def metadata_problems(store: Store) -> list[str]:
        """What is wrong with an N-player run's own metadata (the seats per game, the model's
        configuration); empty when intact."""
        problems = []
        seats = store.meta("seats")
        if isinstance(seats, bool) or not isinstance(seats, int) or seats < 2:
            problems.append(f"seats per game (meta key 'seats') must be an int >= 2, got {seats!r}")
        try:
            PlacementConfig.from_dict(store.meta(CONFIG_META))
        except (TypeError, ValueError) as exc:
            problems.append(f"bad placement rating configuration (meta key {CONFIG_META!r}): {exc}")
        return problems

    @staticmethod
    def run_meta(config: PlacementConfig, seats: int) -> dict[str, Any]:
        """The metadata that makes a new run N-player (``Store.create``'s ``extra_meta``, so that
        the run is N-player from its atomic creation on), ``seats`` per game."""
        return {FFA_META: "ffa", "seats": int(seats), CONFIG_META: config.to_dict()}

    @staticmethod
    def _ensure_tables(db: Any) -> None:
        """Create the N-player tables if missing (inside the caller's transaction; statement by
        statement, since ``executescript`` would commit it)."""
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)

    def _has_tables(self) -> bool:
        rows = self.store._query(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ffa_games'"
        )
        return bool(rows[0][0])

    def add_members(self, names: Sequence[str]) -> None:
        """Give members without an N-player rating the initial one (one transaction).

        :raises StoreCorrupt: a member who played has lost its rating row (giving it the
            initial rating would hide the damage)
        """
        self._check_rated()
        with self.store._transaction() as db:
            self._ensure_tables(db)
            for name in names:
                row = db.execute("SELECT id FROM members WHERE name = ?", (name,)).fetchone()
                if row is None:
                    raise UnknownMember(f"{self.store.directory}: no member named {name!r}")
                db.execute(
                    "INSERT OR IGNORE INTO ffa_ratings (member, mu, sigma, games) "
                    "VALUES (?, ?, ?, 0)",
                    (row[0], self.config.mu, self.config.sigma),
                )

    def record_games(self, games: Sequence[FfaGame], *, generation: int | None = None) -> list[int]:
        """Record a batch of games in one transaction and update the ratings game by game.

        :param generation: the league generation whose evaluation the games are (None: not a
            league's)
        :return: the new game ids, in order
        """
        if not games:
            return []
        model = self.config.model()
        now = time.time()
        ids = []
        with self.store._transaction() as db:
            self._ensure_tables(db)
            names = sorted({name for game in games for name in game.members})
            rows = db.execute(
                f"SELECT m.name, m.id, r.mu, r.sigma, r.games FROM members m JOIN ffa_ratings r "
                f"ON r.member = m.id WHERE m.name IN ({','.join('?' * len(names))})",
                names,
            ).fetchall()
            known = {row[0]: row for row in rows}
            missing = [name for name in names if name not in known]
            if missing:
                raise UnknownMember(f"{self.store.directory}: no rated member {missing[0]!r}")
            member_id = {name: row[1] for name, row in known.items()}
            rating = {name: model.rating(mu=row[2], sigma=row[3]) for name, row in known.items()}
            played = {name: row[4] for name, row in known.items()}
            batch = db.execute(
                "INSERT INTO batches (created, matches) VALUES (?, ?)", (now, len(games))
            ).lastrowid
            for game in games:
                game_id = db.execute(
                    "INSERT INTO ffa_games (batch, seed, steps, created, generation) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (batch, int(game.seed), int(game.steps), now, generation),
                ).lastrowid
                db.executemany(
                    "INSERT INTO ffa_seats (game, seat, member, place, score) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (game_id, seat, member_id[name], int(place), float(score))
                        for seat, (name, place, score) in enumerate(
                            zip(game.members, game.places, game.scores, strict=True)
                        )
                    ],
                )
                after = _rate(model, [rating[n] for n in game.members], game.places)
                for name, new in zip(game.members, after, strict=True):
                    rating[name] = new
                    played[name] += 1
                    db.execute(
                        "UPDATE ffa_ratings SET mu = ?, sigma = ?, games = ? WHERE member = ?",
                        (new.mu, new.sigma, played[name], member_id[name]),
                    )
                    db.execute(
                        "INSERT INTO ffa_rating_history (game, member, mu, sigma) "
                        "VALUES (?, ?, ?, ?)",
                        (game_id, member_id[name], new.mu, new.sigma),
                    )
                ids.append(int(game_id))
        return ids

    # -- reading -------------------------------------------------------------------------------

    def n_games(self, generation: int | None = None, *, through: int | None = None) -> int:
        """Recorded games (those of a league ``generation``'s evaluation; of the evaluations of
        generations up to ``through``).

        :raises ValueError: ``through`` not None or an int >= 0
        """
        through = check_through(through)
        if not self._has_tables():
            return 0
        conditions, parameters = [], []
        if generation is not None:
            conditions.append("generation = ?")
            parameters.append(int(generation))
        if through is not None:
            conditions.append("generation <= ?")
            parameters.append(through)
        where = "WHERE " + " AND ".join(conditions) if conditions else ""
        return int(self.store._query(f"SELECT COUNT(*) FROM ffa_games {where}", parameters)[0][0])

    def pairwise(self, names: Sequence[str], *, through: int | None = None) -> tuple[Any, Any]:
        """``(score, games)``, float64 ``[n, n]`` over ``names``: every game (of the evaluations
        of league generations up to ``through``) decomposed into its pairs of seats,
        ``score[i, j]`` the times ``i`` placed above ``j`` (ties half) and ``games[i, j]`` the
        games they shared (what two-player matchmakers read).

        :raises ValueError: ``through`` not None or an int >= 0
        :raises UnknownMember: a name that is no member of the run
        """
        import numpy as np

        through = check_through(through)
        self._check_members(names)
        n = len(names)
        score, games = np.zeros((n, n)), np.zeros((n, n))
        if not self._has_tables() or not n:
            return score, games
        games_through = "JOIN ffa_games g ON g.id = a.game AND g.generation <= ? "
        where = "" if through is None else games_through
        rows = self.store._query(
            "SELECT ma.name, mb.name, SUM(CASE WHEN a.place < b.place THEN 1.0 "
            "WHEN a.place = b.place THEN 0.5 ELSE 0.0 END), COUNT(*) FROM ffa_seats a "
            "JOIN ffa_seats b ON a.game = b.game AND a.seat != b.seat "
            "JOIN members ma ON ma.id = a.member JOIN members mb ON mb.id = b.member "
            f"{where}GROUP BY a.member, b.member",
            [] if through is None else [through],
        )
        index = {name: i for i, name in enumerate(names)}
        for a, b, won, shared in rows:
            if a in index and b in index:
                score[index[a], index[b]] = won
                games[index[a], index[b]] = shared
        return score, games

    def win_probabilities(self, names: Sequence[str], *, through: int | None = None) -> Any:
        """float64 ``[n, n]``: the model's probability that ``names[i]`` places above
        ``names[j]`` in a game of the two (openskill's ``predict_win``; 1/2 on the diagonal),
        from the ratings (:meth:`ratings`, ``through`` as there; a member without a rating row
        has the initial one).

        :raises UnknownMember: a name that is no member of the run
        """
        import numpy as np

        self._check_members(names)
        model = self.config.model()
        stored = self.ratings(through=through)
        ratings = [
            model.rating(mu=stored[name][0], sigma=stored[name][1])
            if name in stored
            else model.rating()
            for name in names
        ]
        n = len(names)
        p = np.full((n, n), 0.5)
        for i in range(n):
            for j in range(i + 1, n):
                p[i, j], p[j, i] = model.predict_win([[ratings[i]], [ratings[j]]])
        return p

    def _check_members(self, names: Sequence[str]) -> None:
        """:raises UnknownMember: a name that is no member (a typo would read as a new player)"""
        known = set(self.store.member_names())
        missing = [name for name in names if name not in known]
        if missing:
            raise UnknownMember(f"{self.store.directory}: no member named {missing[0]!r}")

    def unrated_players(self) -> list[str]:
        """Members who sat in a recorded game but have no ``ffa_ratings`` row (damage: a member
        is rated before its first game), in creation order."""
        if not self._has_tables():
            return []
        rows = self.store._query(
            "SELECT m.name FROM members m WHERE m.id IN (SELECT member FROM ffa_seats) AND "
            "m.id NOT IN (SELECT member FROM ffa_ratings) ORDER BY m.id"
        )
        return [name for (name,) in rows]

    def _unrated_problem(self, names: Sequence[str]) -> str:
        listed = ", ".join(repr(name) for name in names)
        return f"no stored rating (ffa_ratings row missing) for member {listed}, who played"

    def _check_rated(self) -> None:
        """:raises StoreCorrupt: a member who played has no rating row"""
        unrated = self.unrated_players()
        if unrated:
            raise StoreCorrupt(f"{self.store.directory}: {self._unrated_problem(unrated)}")

    def ratings(self, *, through: int | None = None) -> dict[str, tuple[float, float]]:
        """Every rated member's stored ``(mu, sigma)``, in creation order; with ``through``,
        as it stood just after the last game of the evaluations of league generations up to
        ``through`` (from the rating history; the initial rating of a member who had not played
        by then): what the matchmaker saw while generation ``through + 1`` trained, and what
        generation ``through``'s report shows, however many generations were recorded since.

        :raises StoreCorrupt: a member who played has no rating row
        :raises ValueError: ``through`` not None or an int >= 0
        """
        through = check_through(through)
        if not self._has_tables():
            return {}
        self._check_rated()
        if through is None:
            rows = self.store._query(
                "SELECT m.name, r.mu, r.sigma FROM members m JOIN ffa_ratings r "
                "ON r.member = m.id ORDER BY m.id"
            )
            return {name: (float(mu), float(sigma)) for name, mu, sigma in rows}
        rows = self.store._query(
            "SELECT m.name, h.mu, h.sigma FROM members m JOIN ffa_ratings r ON r.member = m.id "
            "LEFT JOIN ffa_rating_history h ON h.member = m.id AND h.game = (SELECT MAX(x.game) "
            "FROM ffa_rating_history x WHERE x.member = m.id AND x.game <= "
            "(SELECT MAX(id) FROM ffa_games WHERE generation <= ?)) ORDER BY m.id",
            (through,),
        )
        initial = (float(self.config.mu), float(self.config.sigma))
        return {
            name: initial if mu is None else (float(mu), float(sigma)) for name, mu, sigma in rows
        }

    def games(
        self,
        member: str | None = None,
        *,
        last: int | None = None,
        generation: int | None = None,
    ) -> list[FfaGame]:
        """Recorded games in order (those ``member`` sat in; of a league ``generation``'s
        evaluation; only the ``last`` ones).

        :raises ValueError: ``last`` not None or an int >= 0
        """
        last = check_last(last)
        if not self._has_tables():
            return []
        conditions, parameters = [], []
        if member is not None:
            conditions.append("g.id IN (SELECT game FROM ffa_seats WHERE member = ?)")
            parameters.append(self.store.member(member).id)
        if generation is not None:
            conditions.append("g.generation = ?")
            parameters.append(int(generation))
        where = "WHERE " + " AND ".join(conditions) if conditions else ""
        rows = self.store._query(
            "SELECT g.id, g.seed, g.steps, m.name, s.place, s.score FROM ffa_games g "
            f"JOIN ffa_seats s ON s.game = g.id JOIN members m ON s.member = m.id {where} "
            "ORDER BY g.id, s.seat",
            parameters,
        )
        grouped: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row)
        found = [
            FfaGame(
                members=tuple(r[3] for r in seats),
                places=tuple(int(r[4]) for r in seats),
                scores=tuple(float(r[5]) for r in seats),
                seed=int(seats[0][1]),
                steps=int(seats[0][2]),
            )
            for seats in grouped.values()
        ]
        return found if last is None else found[-last:] if last > 0 else []

    def refit(self) -> dict[str, tuple[float, float]]:
        """Replay the whole game log in order through the model: equals :meth:`ratings`.

        :raises StoreCorrupt: a member who played has no rating row
        """
        model = self.config.model()
        rating = {name: model.rating() for name in self.ratings()}
        for game in self.games():
            after = _rate(model, [rating[n] for n in game.members], game.places)
            rating.update(zip(game.members, after, strict=True))
        return {name: (float(r.mu), float(r.sigma)) for name, r in rating.items()}

    def history(self) -> list[tuple[int, str, float, float]]:
        """``(game number from 1, member, mu, sigma after that game)`` in game order."""
        if not self._has_tables():
            return []
        rows = self.store._query(
            "SELECT h.game, m.name, h.mu, h.sigma FROM ffa_rating_history h JOIN members m "
            "ON h.member = m.id ORDER BY h.game, h.member"
        )
        first = self.store._query("SELECT COALESCE(MIN(id), 1) FROM ffa_games")[0][0]
        return [(int(g) - int(first) + 1, n, float(mu), float(s)) for g, n, mu, s in rows]

    def summary(self) -> dict[str, dict[str, float]]:
        """Per rated member: ``games``, ``mean_place`` and ``win_share`` (first places, a tie
        for first among ``k`` players counting ``1/k``), from SQL aggregates."""
        if not self._has_tables():
            return {}
        rows = self.store._query(
            "SELECT m.name, COUNT(s.game), AVG(s.place), "
            "COALESCE(SUM(CASE WHEN s.place = 1 THEN 1.0 / (SELECT COUNT(*) FROM ffa_seats t "
            "WHERE t.game = s.game AND t.place = 1) ELSE 0 END), 0) "
            "FROM members m JOIN ffa_ratings r ON r.member = m.id "
            "LEFT JOIN ffa_seats s ON s.member = m.id GROUP BY m.id ORDER BY m.id"
        )
        return {
            name: {
                "games": int(games),
                "mean_place": float(mean) if games else float("nan"),
                "win_share": float(wins) / games if games else float("nan"),
            }
            for name, games, mean, wins in rows
        }

    def verify(self) -> list[str]:
        """Problems (empty when consistent): members who played without a rating, stored
        ratings against the refit, game counts. Damage is reported, not raised."""
        problems = []
        unrated = self.unrated_players()
        if unrated:
            problems.append(self._unrated_problem(unrated))
        else:
            stored, refitted = self.ratings(), self.refit()
            for name, value in stored.items():
                if value != refitted[name]:
                    problems.append(f"rating of {name}: stored {value}, refitted {refitted[name]}")
        if self._has_tables():
            counted = dict(
                self.store._query(
                    "SELECT m.name, (SELECT COUNT(*) FROM ffa_seats s WHERE s.member = m.id) "
                    "FROM members m JOIN ffa_ratings r ON r.member = m.id"
                )
            )
            games = dict(
                self.store._query(
                    "SELECT m.name, r.games FROM members m JOIN ffa_ratings r ON r.member = m.id"
                )
            )
            for name, n in games.items():
                if n != counted[name]:
                    problems.append(f"games of {name}: stored {n}, counted {counted[name]}")
        return problems
