"""Matchmaking: which members play each other next.

A :class:`Matchmaker` looks at a :class:`PoolView` (members in creation order, their Elo ratings
and the record between them) and returns pairs ``(a, b)``; ``a`` plays the caller's seat of the
match (with ``seat="alternate"`` both play both seats). Matchmakers keep no state of their own:
everything they use is in the view and the random generator they are given, so a tournament that
is killed and resumed schedules exactly what an uninterrupted one would.

- :class:`RandomMatchmaker`: two distinct members, uniformly.
- :class:`RoundRobin`: every pair once per cycle, in the rounds of the circle method.
- :class:`ClosestRating` ("fitness"): a random member against one of its nearest in Elo.
- :class:`SelfPlay`: a learner (default: the latest member) against the latest other member
  with probability ``latest_ratio``, else against one of the ``window`` snapshots before it.
- :class:`PFSP`: prioritized fictitious self-play: the learner against opponents drawn with
  weight ``f(x)``, ``x`` its smoothed win rate against them: ``squared`` ``(1 - x)^2`` (hardest
  first), ``linear`` ``1 - x``, ``variance`` ``x (1 - x)`` (the most even).

:func:`make_matchmaker` builds one from a name such as ``"pfsp:variance"``.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thrust_population.ratings import expected_score

__all__ = [
    "PFSP",
    "ClosestRating",
    "Matchmaker",
    "PoolView",
    "RandomMatchmaker",
    "RoundRobin",
    "SelfPlay",
    "make_matchmaker",
    "matchmaker_names",
]

Pair = tuple[str, str]


@dataclass(frozen=True)
class PoolView:
    """What a matchmaker sees of a population.

    Attributes (``n`` members):
        names: member names in creation order (the last is the latest)
        ratings: float64 ``[n]``: current Elo ratings
        score: float64 ``[n, n]``: ``score[i, j]`` is i's total score against j
        games: float64 ``[n, n]``: games between i and j
        n_matches: matches recorded so far
        expected: float64 ``[n, n]`` or None: i's expected score against j when the ratings are
            not Elo ratings (an N-player run's: openskill's probability that i places above
            j); None: from the Elo ratings
    """

    names: tuple[str, ...]
    ratings: np.ndarray
    score: np.ndarray
    games: np.ndarray
    n_matches: int = 0
    expected: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(set(self.names)) != n:
            raise ValueError("member names must be unique")
        if np.shape(self.ratings) != (n,) or np.shape(self.score) != (n, n):
            raise ValueError(f"ratings must be [{n}] and score [{n}, {n}]")
        if np.shape(self.games) != (n, n):
            raise ValueError(f"games must be [{n}, {n}]")
        if self.expected is not None and np.shape(self.expected) != (n, n):
            raise ValueError(f"expected must be None or [{n}, {n}]")
        # a NaN rating sorts anywhere (fitness) and makes every win rate NaN (PFSP then draws
        # uniformly): refused, like a negative count
        if not np.all(np.isfinite(self.ratings)):
            raise ValueError(f"ratings must be finite, got {np.asarray(self.ratings).tolist()}")
        for name in ("score", "games"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if not (np.all(np.isfinite(value)) and np.all(value >= 0)):
                raise ValueError(f"{name} must be finite and non-negative")
        if self.expected is not None:
            expected = np.asarray(self.expected, dtype=np.float64)
            if not np.all((expected >= 0) & (expected <= 1)):  # NaN fails both
                raise ValueError("expected must hold probabilities in [0, 1]")

    @classmethod
    def from_ratings(
        cls, names: Sequence[str], ratings: Sequence[float] | None = None, n_matches: int = 0
    ) -> PoolView:
        """A view with no record (all win rates 1/2)."""
        n = len(names)
        r = np.full(n, 1500.0) if ratings is None else np.asarray(ratings, dtype=np.float64)
        return cls(tuple(names), r, np.zeros((n, n)), np.zeros((n, n)), n_matches)

    @property
    def latest(self) -> str:
        """The most recently added member."""
        if not self.names:
            raise ValueError("the population is empty")
        return self.names[-1]

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no member named {name!r}") from None

    def expected_score(self, i: int, j: int) -> float:
        """i's expected score against j: :attr:`expected` if given, else from their Elo ratings
        (:func:`~thrust_population.ratings.expected_score`)."""
        if self.expected is not None:
            return float(self.expected[i, j])
        return expected_score(float(self.ratings[i]), float(self.ratings[j]))

    def win_rate(self, i: int, j: int, prior: float = 1.0) -> float:
        """i's smoothed win rate against j: ``(score + prior * e) / (games + prior)``, ``e`` the
        Elo expectation (:meth:`expected_score`): the record where the pair has played, the
        ratings where it has not (a new snapshot has met few of the pool; its rating still says
        whom it beats)."""
        e = self.expected_score(i, j)
        return float((self.score[i, j] + prior * e) / (self.games[i, j] + prior))


class Matchmaker(abc.ABC):
    """Chooses pairs of members to play."""

    #: the name :func:`make_matchmaker` knows it by
    name: str = ""

    @abc.abstractmethod
    def pairs(self, pool: PoolView, n: int, rng: np.random.Generator) -> list[Pair]:
        """``n`` pairs ``(a, b)`` of distinct members of ``pool``.

        :param pool: the population's members, ratings and record
        :param n: number of pairs (an int >= 0)
        :param rng: the only source of randomness
        :raises ValueError: ``n`` not an int >= 0, or fewer than two members
        """

    def describe(self) -> str:
        """The spec :func:`make_matchmaker` rebuilds this matchmaker from."""
        return self.name

    @staticmethod
    def _need_two(pool: PoolView) -> None:
        if len(pool.names) < 2:
            raise ValueError(f"matchmaking needs at least two members, got {len(pool.names)}")

    @staticmethod
    def _count(n: object) -> int:
        """``n`` as a number of pairs: an int >= 0 (a negative one would give no pairs)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"the number of pairs must be a non-negative int, got {n!r}")
        return int(n)


class RandomMatchmaker(Matchmaker):
    """Two distinct members drawn uniformly for each pair."""

    name = "random"

    def pairs(self, pool: PoolView, n: int, rng: np.random.Generator) -> list[Pair]:
        n = self._count(n)
        self._need_two(pool)
        out = []
        for _ in range(n):
            i, j = rng.choice(len(pool.names), size=2, replace=False)
            out.append((pool.names[i], pool.names[j]))
        return out


def circle_schedule(n: int) -> list[tuple[int, int]]:
    """Every unordered pair of ``range(n)`` once, in rounds where each member plays at most once
    (the circle method), each member playing first in half its matches (to within one)."""
    players: list[int | None] = list(range(n))
    if n % 2:
        players.append(None)
    m = len(players)
    schedule = []
    for round_index in range(m - 1):
        for k in range(m // 2):
            a, b = players[k], players[m - 1 - k]
            if a is None or b is None:
                continue
            # the fixed member alternates; the others play first from the top row. Over a
            # cycle, everyone plays first in half their matches (to within one).
            first = round_index % 2 == 0 if k == 0 else True
            schedule.append((a, b) if first else (b, a))
        players = [players[0], players[-1], *players[1:-1]]
    return schedule


class RoundRobin(Matchmaker):
    """Every pair once per cycle, continuing from where the record stands (match ``k`` of the
    population plays pair ``k mod n(n-1)/2`` of the circle schedule)."""

    name = "round-robin"

    def pairs(self, pool: PoolView, n: int, rng: np.random.Generator) -> list[Pair]:
        n = self._count(n)
        self._need_two(pool)
        schedule = circle_schedule(len(pool.names))
        picks = [schedule[(pool.n_matches + t) % len(schedule)] for t in range(n)]
        return [(pool.names[a], pool.names[b]) for a, b in picks]


class ClosestRating(Matchmaker):
    """Closest-rating ("fitness") matchmaking: a uniformly drawn member against one of its
    ``candidates`` nearest members by Elo (uniformly among them, ties broken at random).

    :param candidates: how many of the nearest to choose from (>= 1)
    """

    name = "fitness"

    def __init__(self, candidates: int = 2) -> None:
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"candidates must be a positive int, got {candidates!r}")
        self.candidates = candidates

    def pairs(self, pool: PoolView, n: int, rng: np.random.Generator) -> list[Pair]:
        n = self._count(n)
        self._need_two(pool)
        size = len(pool.names)
        ratings = np.asarray(pool.ratings, dtype=np.float64)
        out = []
        for _ in range(n):
            a = int(rng.integers(size))
            others = np.delete(np.arange(size), a)
            others = others[rng.permutation(len(others))]  # random tie-breaking
            order = np.argsort(np.abs(ratings[others] - ratings[a]), kind="stable")
            nearest = others[order[: self.candidates]]
            b = int(nearest[rng.integers(len(nearest))])
            out.append((pool.names[a], pool.names[b]))
        return out

    def describe(self) -> str:
        return f"{self.name}:{self.candidates}"


def _learner(pool: PoolView, learner: str | None) -> int:
    PFSP._need_two(pool)
    return len(pool.names) - 1 if learner is None else pool.index(learner)


class SelfPlay(Matchmaker):
    """Self-play: the learner against the latest other member with probability
    ``latest_ratio``, else against one of the ``window`` members added before that one
    (uniformly).

    :param window: how many historical snapshots to draw from (>= 0)
    :param latest_ratio: probability of playing the latest snapshot, in [0, 1]
    :param learner: the learner's name (default: the latest member)
    """

    name = "self-play"

    def __init__(self, window: int = 5, latest_ratio: float = 0.5, learner: str | None = None):
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ValueError(f"window must be a non-negative int, got {window!r}")
        if (
            isinstance(latest_ratio, bool)
            or not isinstance(latest_ratio, numbers.Real)
            or not 0.0 <= latest_ratio <= 1.0
        ):
            raise ValueError(f"latest_ratio must be a number in [0, 1], got {latest_ratio!r}")
        self.window = window
        self.latest_ratio = float(latest_ratio)
        self.learner = learner

    def pairs(self, pool: PoolView, n: int, rng: np.random.Generator) -> list[Pair]:
        n = self._count(n)
        me = _learner(pool, self.learner)
        snapshots = [i for i in range(len(pool.names)) if i != me]  # oldest first
        latest, history = snapshots[-1], snapshots[-1 - self.window : -1]
        out = []
        for _ in range(n):
            if not history or rng.random() < self.latest_ratio:
                opponent = latest
            else:
                opponent = history[int(rng.integers(len(history)))]
            out.append((pool.names[me], pool.names[opponent]))
        return out

    def describe(self) -> str:
        return f"{self.name}:{self.window}:{self.latest_ratio!r}"


#: PFSP weightings of the learner's win rate ``x`` against an opponent (AlphaStar's f_hard with
#: p = 2 and p = 1, and f_var).
PFSP_WEIGHTINGS = {
    "squared": lambda x: (1.0 - x) ** 2,
    "linear": lambda x: 1.0 - x,
    "variance": lambda x: x * (1.0 - x),
}


class PFSP(Matchmaker):
    """Prioritized fictitious self-play: the learner against opponents drawn (with
    replacement) with probability proportional to ``f(x)``, ``x`` the learner's smoothed win
    rate against each (:meth:`PoolView.win_rate`: the record, shrunk towards the Elo expectation,
    which alone counts before any game).

    :param weighting: ``"squared"`` ``(1 - x)^2``, ``"linear"`` ``1 - x`` or ``"variance"``
        ``x (1 - x)``
    :param learner: the learner's name (default: the latest member)
    :param window: only the ``window`` most recent other members (None: all)
    :param prior: virtual games in the win-rate estimate (> 0)
    """

    name = "pfsp"

    def __init__(
        self,
        weighting: str = "squared",
        learner: str | None = None,
        window: int | None = None,
        prior: float = 1.0,
    ) -> None:
        if weighting not in PFSP_WEIGHTINGS:
            raise ValueError(
                f"PFSP weighting must be one of {sorted(PFSP_WEIGHTINGS)}, got {weighting!r}"
            )
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int) or window < 1
        ):
            raise ValueError(f"window must be a positive int or None, got {window!r}")
        # an infinite prior makes every win rate inf / inf = NaN
        if (
            isinstance(prior, bool)
            or not isinstance(prior, numbers.Real)
            or not 0 < prior < math.inf
        ):
            raise ValueError(f"prior must be a positive finite number, got {prior!r}")
        self.weighting = weighting
        self.learner = learner
        self.window = window
        self.prior = float(prior)

    def probabilities(self, pool: PoolView) -> tuple[list[int], np.ndarray]:
        """The candidate opponents (indices) and the probability of drawing each."""
        me = _learner(pool, self.learner)
        candidates = [i for i in range(len(pool.names)) if i != me]
        if self.window is not None:
            candidates = candidates[-self.window :]
        x = np.array([pool.win_rate(me, j, self.prior) for j in candidates])
        weights = PFSP_WEIGHTINGS[self.weighting](x)
        total = weights.sum()
        if not total > 0:
            return candidates, np.full(len(candidates), 1.0 / len(candidates))
        return candidates, weights / total

    def pairs(self, pool: PoolView, n: int, rng: np.random.Generator) -> list[Pair]:
        n = self._count(n)
        me = _learner(pool, self.learner)
        candidates, p = self.probabilities(pool)
        picks = rng.choice(len(candidates), size=n, p=p)
        return [(pool.names[me], pool.names[candidates[k]]) for k in picks]

    def describe(self) -> str:
        if self.window is None and self.prior == 1.0:
            return f"{self.name}:{self.weighting}"
        window = "all" if self.window is None else self.window
        return f"{self.name}:{self.weighting}:{window}:{self.prior!r}"


def matchmaker_names() -> list[str]:
    return [
        "random",
        "round-robin",
        "fitness[:CANDIDATES]",
        "self-play[:WINDOW[:LATEST_RATIO]]",
        "pfsp[:squared|linear|variance[:WINDOW|all[:PRIOR]]]",
    ]


def make_matchmaker(spec: str, learner: str | None = None) -> Matchmaker:
    """A matchmaker from its spec: ``random``, ``round-robin``, ``fitness[:CANDIDATES]``,
    ``self-play[:WINDOW[:LATEST_RATIO]]`` or ``pfsp[:WEIGHTING[:WINDOW[:PRIOR]]]`` (a WINDOW
    of ``all``: every other member).

    :param learner: the learner of ``self-play`` and ``pfsp`` (default: the latest member)
    :raises ValueError: unknown name or bad parameters
    """
    name, *args = spec.strip().split(":")
    try:
        if name == "random" and not args:
            return RandomMatchmaker()
        if name == "round-robin" and not args:
            return RoundRobin()
        if name == "fitness" and len(args) <= 1:
            return ClosestRating(*(int(a) for a in args))
        if name == "self-play" and len(args) <= 2:
            window = int(args[0]) if args else 5
            ratio = float(args[1]) if len(args) > 1 else 0.5
            return SelfPlay(window, ratio, learner)
        if name == "pfsp" and len(args) <= 3:
            weighting = args[0] if args else "squared"
            window = None if len(args) < 2 or args[1] == "all" else int(args[1])
            prior = float(args[2]) if len(args) > 2 else 1.0
            return PFSP(weighting, learner, window, prior)
    except ValueError as exc:
        raise ValueError(f"bad matchmaking {spec!r}: {exc}") from exc
    raise ValueError(f"unknown matchmaking {spec!r}; choose from {', '.join(matchmaker_names())}")
