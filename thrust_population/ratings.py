"""Ratings: online Elo, a batch Bradley–Terry refit with confidence intervals, win-rate matrices.

Both live on the Elo scale: a rating difference ``d`` means an expected score of
``1 / (1 + 10 ** (-d / scale))`` (``scale = 400``), i.e. ``sigmoid(d * ln(10) / scale)``, which is
the Bradley–Terry model with strengths ``theta = rating * ln(10) / scale``.

- :class:`Elo` updates ratings game by game (``K`` and the initial rating configurable, one
  optional *anchor* member pinned to a fixed rating).
- :func:`bradley_terry` is the maximum-likelihood (MAP) refit from the whole record of games:
  draws count half, and a small smoothing prior (``prior`` virtual drawn games of every player
  against a reference player) keeps unbeaten and winless players finite. Intervals come from the
  observed Fisher information (the inverse Hessian of the log-posterior).
- Newton's method that has not converged within ``max_iter`` iterations warns
  (:class:`ConvergenceWarning`) and returns the last iterate with ``converged=False``.
- :func:`pair_counts` aggregates match results into the ``[n, n]`` score and game matrices both
  take; :func:`win_rate_matrix` turns them into win rates.

Non-transitive populations are rated by :mod:`thrust_population.gametheory` (Nash averaging,
alpha-rank).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "BradleyTerry",
    "ConvergenceWarning",
    "Elo",
    "EloConfig",
    "bradley_terry",
    "expected_score",
    "pair_counts",
    "spearman",
    "win_rate_matrix",
]

LN10 = math.log(10.0)
#: ``10 ** x`` is a finite float up to here (the largest float is ~1.8e308)
_MAX_POW10 = 308.0


def _logistic10(x: float) -> float:
    """``1 / (1 + 10 ** x)`` without overflow: the textbook float for ``x <= 308`` (bit for bit,
    so that runs rated before stay equal to their replay), and ``10 ** -x / (1 + 10 ** -x)``
    beyond, where the textbook form overflows (a rating gap of more than 123,200 Elo at scale
    400) and the value is below 1e-308."""
    if x > _MAX_POW10:
        tail = math.pow(10.0, -x)
        return tail / (1.0 + tail)
    return 1.0 / (1.0 + math.pow(10.0, x))


def expected_score(rating_a: float, rating_b: float, scale: float = 400.0) -> float:
    """Expected score of A against B under the Elo model: ``1 / (1 + 10 ** ((b - a) / scale))``
    (computed without overflow for any rating gap)."""
    return _logistic10((rating_b - rating_a) / scale)


@dataclass(frozen=True)
class EloConfig:
    """The parameters of an :class:`Elo` rating system.

    :param k: the K-factor: the largest change of a rating after one game is ``k``
    :param initial: rating of a member before its first game
    :param scale: the logistic scale (400: a difference of 400 means 10:1 odds)
    :param anchor: name of the member whose rating is pinned to ``anchor_rating`` (or None)
    :param anchor_rating: the anchor's fixed rating (default: ``initial``)
    """

    k: float = 16.0
    initial: float = 1500.0
    scale: float = 400.0
    anchor: str | None = None
    anchor_rating: float | None = None

    def __post_init__(self) -> None:
        for name in ("k", "initial", "scale"):
            _real(f"Elo {name}", getattr(self, name))  # a bool is no K factor
        if self.k <= 0:
            raise ValueError(f"Elo k must be positive, got {self.k}")
        if self.scale <= 0:
            raise ValueError(f"Elo scale must be positive, got {self.scale}")
        if self.anchor is not None and (not isinstance(self.anchor, str) or not self.anchor):
            raise ValueError(f"Elo anchor must be a member name, got {self.anchor!r}")
        if self.anchor_rating is not None:
            _real("Elo anchor_rating", self.anchor_rating)

    @property
    def pinned_rating(self) -> float:
        """The anchor's rating (``anchor_rating``, else ``initial``)."""
        return self.initial if self.anchor_rating is None else float(self.anchor_rating)

    def start_rating(self, name: str) -> float:
        """The rating of ``name`` before its first game."""
        return self.pinned_rating if name == self.anchor else float(self.initial)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "initial": self.initial,
            "scale": self.scale,
            "anchor": self.anchor,
            "anchor_rating": self.anchor_rating,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EloConfig:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass
class Elo:
    """Online Elo ratings, updated one game at a time.

    >>> elo = Elo(EloConfig(k=32))
    >>> elo.update("a", "b", 1.0)      # a beat b
    (1516.0, 1484.0)

    Updating the same games in the same order always gives the same floats: the store relies on
    it to check that the ratings it holds equal a replay of its match log.

    :param config: K, initial rating, scale and anchor
    :param ratings: current ratings by member name (members not in it have ``initial``), finite
    :raises ValueError: a rating that is not a finite number (a NaN would spread to every
        member that plays against it)
    """

    config: EloConfig = field(default_factory=EloConfig)
    ratings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.ratings.items():
            _real(f"the Elo rating of {name!r}", value)

    def rating(self, name: str) -> float:
        """The current rating of ``name`` (its start rating if it has not played)."""
        value = self.ratings.get(name)
        return self.config.start_rating(name) if value is None else value

    def expected(self, a: str, b: str) -> float:
        """Expected score of ``a`` against ``b`` with the current ratings."""
        return expected_score(self.rating(a), self.rating(b), self.config.scale)

    def update(self, a: str, b: str, score: float) -> tuple[float, float]:
        """Record one game: ``score`` is A's result (1 win, 0.5 draw, 0 loss).

        :return: the new ratings of A and B
        """
        return self.update_games(a, b, (score,))

    def update_games(self, a: str, b: str, scores: Iterable[float]) -> tuple[float, float]:
        """Record games between A and B one after the other (``scores`` are A's results).

        :return: the new ratings of A and B
        """
        if a == b:
            raise ValueError(f"a member cannot play itself in an Elo update: {a!r}")
        config = self.config
        k, scale = float(config.k), float(config.scale)
        ra, rb = self.rating(a), self.rating(b)
        a_free, b_free = a != config.anchor, b != config.anchor
        for score in scores:
            # a bool or a string such as "1" is no score: refused like 2.0
            if isinstance(score, bool) or not isinstance(score, numbers.Real):
                raise ValueError(f"a game's score must be a number in [0, 1], got {score!r}")
            s = float(score)
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"a game's score must lie in [0, 1], got {score!r}")
            delta = k * (s - _logistic10((rb - ra) / scale))
            if a_free:
                ra = ra + delta
            if b_free:
                rb = rb - delta
        self.ratings[a] = ra
        self.ratings[b] = rb
        return ra, rb

    def copy(self) -> Elo:
        return Elo(self.config, dict(self.ratings))


# ---------------------------------------------------------------------------------------------
# Argument checks


def _real(name: str, value: Any) -> float:
    """``value`` as a float: a finite real number, not a bool (:class:`ValueError` otherwise)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _index(name: str, value: Any) -> int:
    """``value`` as an int: an integer, not a bool (:class:`ValueError` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _finite_array(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array[~np.isfinite(array)][:3].tolist()}")
    return array


def _index_array(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values).reshape(-1)
    if array.size and (array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must hold integer member indices, got dtype {array.dtype}")
    return array.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Record aggregation


def pair_counts(
    player_a: Sequence[int] | np.ndarray,
    player_b: Sequence[int] | np.ndarray,
    score_a: Sequence[float] | np.ndarray,
    games: Sequence[float] | np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate matches into score and game matrices.

    :param player_a: member index of A in each match, shape ``[m]``
    :param player_b: member index of B in each match, shape ``[m]``
    :param score_a: A's total score in each match (wins + draws / 2), shape ``[m]``
    :param games: games in each match, shape ``[m]``
    :param n: number of members
    :return: ``(score, games)``, both float64 ``[n, n]``: ``score[i, j]`` is i's total score
        against j, ``games[i, j] == games[j, i]`` the games between them, and
        ``score[i, j] + score[j, i] == games[i, j]``
    """
    n = _index("n", n)
    if n < 0:
        raise ValueError(f"n must be a non-negative number of members, got {n}")
    a = _index_array("player_a", player_a)
    b = _index_array("player_b", player_b)
    s = _finite_array("score_a", score_a)
    g = _finite_array("games", games)
    if not a.shape == b.shape == s.shape == g.shape:
        raise ValueError(
            f"player_a, player_b, score_a and games must have one entry per match; got shapes "
            f"{a.shape}, {b.shape}, {s.shape}, {g.shape}"
        )
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise ValueError(f"member indices must lie in [0, {n})")
    if np.any(a == b):
        raise ValueError("a match needs two different members")
    if np.any(g < 0) or np.any(s < 0) or np.any(s > g):
        raise ValueError("need 0 <= score_a <= games in every match")
    score = np.bincount(a * n + b, weights=s, minlength=n * n)
    score += np.bincount(b * n + a, weights=g - s, minlength=n * n)
    played = np.bincount(a * n + b, weights=g, minlength=n * n)
    played = played.reshape(n, n)
    return score.reshape(n, n), played + played.T


def win_rate_matrix(score: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Win rates (draws count half): ``score[i, j] / games[i, j]``, NaN where no games were
    played (and on the diagonal).

    :param score: ``[n, n]`` as from :func:`pair_counts`
    :param games: ``[n, n]`` as from :func:`pair_counts`
    :return: float64 ``[n, n]``; ``rate[i, j] + rate[j, i] == 1`` where defined
    """
    score, games = _check_counts(score, games)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, score / np.where(games > 0, games, 1.0), np.nan)
    np.fill_diagonal(rate, np.nan)
    return rate


def _check_counts(score: Any, games: Any) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=np.float64)
    games = np.asarray(games, dtype=np.float64)
    if score.ndim != 2 or score.shape[0] != score.shape[1] or games.shape != score.shape:
        raise ValueError(
            f"score and games must be square matrices of the same shape, got {score.shape} and "
            f"{games.shape}"
        )
    if not (np.all(np.isfinite(score)) and np.all(np.isfinite(games))):
        raise ValueError("score and games must be finite")
    if np.any(games < 0) or np.any(score < 0) or np.any(score > games + 1e-9):
        raise ValueError("need 0 <= score[i, j] <= games[i, j]")
    if not np.allclose(games, games.T):
        raise ValueError("games must be symmetric (games[i, j] == games[j, i])")
    if not np.allclose(score + score.T, games):
        raise ValueError("need score[i, j] + score[j, i] == games[i, j]")
    return score, games


# ---------------------------------------------------------------------------------------------
# Bradley–Terry


@dataclass(frozen=True)
class BradleyTerry:
    """A Bradley–Terry fit on the Elo scale.

    Attributes (``n`` members):
        ratings: float64 ``[n]``: ratings, centred on ``center`` (or with the anchor at its
            rating)
        stderr: float64 ``[n]``: standard errors of the ratings relative to that reference
            (the mean of all ratings, or the anchor, whose error is 0)
        lower, upper: float64 ``[n]``: the ``level`` confidence interval
        covariance: float64 ``[n, n]``: covariance of the reported ratings (Elo²)
        games: float64 ``[n]``: games each member played
        level: confidence level of the intervals
        log_posterior: the maximised log-likelihood plus log-prior
        iterations: Newton iterations used
        scale: the Elo scale of the ratings
        converged: whether the Newton decrement fell below ``tol`` (else a
            :class:`ConvergenceWarning` was issued and the ratings are the last iterate)
    """

    ratings: np.ndarray
    stderr: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    covariance: np.ndarray
    games: np.ndarray
    level: float
    log_posterior: float
    iterations: int
    scale: float
    converged: bool = True

    def expected(self, i: int, j: int) -> float:
        """The fitted probability that member ``i`` scores against member ``j``."""
        return expected_score(float(self.ratings[i]), float(self.ratings[j]), self.scale)


class ConvergenceWarning(RuntimeWarning):
    """:func:`bradley_terry`'s Newton iterations stopped at ``max_iter`` before converging."""


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _bt_objective(theta: np.ndarray, score: np.ndarray, prior: float) -> float:
    diff = theta[:, None] - theta[None, :]
    value = float(np.sum(score * _log_sigmoid(diff)))
    value += 0.5 * prior * float(np.sum(_log_sigmoid(theta) + _log_sigmoid(-theta)))
    return value


def bradley_terry(
    score: np.ndarray,
    games: np.ndarray,
    *,
    prior: float = 1.0,
    level: float = 0.95,
    scale: float = 400.0,
    center: float = 1500.0,
    anchor: int | None = None,
    anchor_rating: float | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> BradleyTerry:
    """Maximum a-posteriori Bradley–Terry ratings from a record of games.

    Model: member ``i`` scores against ``j`` with probability ``sigmoid(theta_i - theta_j)``;
    a draw counts as half a win and half a loss. The prior gives every member ``prior`` virtual
    drawn games against a reference player of strength 0, which keeps the ratings of members who
    never lost (or never won) finite and makes the fit unique; with ``prior -> 0`` it is the
    plain maximum-likelihood estimate. Solved by Newton's method with a backtracking line search
    (the log-posterior is strictly concave), so 100 members and 100k matches take milliseconds
    once aggregated with :func:`pair_counts`.

    :param score: ``[n, n]``: ``score[i, j]`` is i's total score against j
    :param games: ``[n, n]``: games between i and j (symmetric)
    :param prior: virtual drawn games per member (> 0)
    :param level: confidence level of the intervals, in (0, 1)
    :param scale: Elo scale of the returned ratings
    :param center: the mean rating when there is no anchor
    :param anchor: index of a member pinned to ``anchor_rating``; the other ratings and their
        intervals are then relative to it
    :param anchor_rating: the anchor's rating (default ``center``)
    :param tol: stop when the Newton decrement falls below this (> 0)
    :param max_iter: at most this many Newton iterations (>= 1); a fit still short of ``tol``
        then warns (:class:`ConvergenceWarning`) and has ``converged=False``
    :return: the fit (ratings, standard errors, intervals, covariance)
    :raises ValueError: inconsistent counts or a bad option (each named)
    """
    score, games = _check_counts(score, games)
    n = score.shape[0]
    if isinstance(prior, bool) or _real("prior", prior) <= 0:
        raise ValueError(f"prior must be a positive number of virtual games, got {prior!r}")
    if isinstance(level, bool) or not 0.0 < _real("level", level) < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    scale = _real("scale", scale)
    if scale <= 0:  # a negative scale would reverse the ranking, 0 flatten it
        raise ValueError(f"scale must be positive, got {scale!r}")
    center = _real("center", center)
    if anchor is not None and not 0 <= _index("anchor", anchor) < n:
        raise ValueError(f"anchor index {anchor} out of range [0, {n})")
    if anchor_rating is not None:
        anchor_rating = _real("anchor_rating", anchor_rating)
    if _real("tol", tol) <= 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if _index("max_iter", max_iter) < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter!r}")
    if n == 0:
        empty = np.zeros(0)
        return BradleyTerry(
            empty, empty, empty, empty, np.zeros((0, 0)), empty, level, 0.0, 0, scale
        )

    theta = np.zeros(n)
    objective = _bt_objective(theta, score, prior)
    iterations, converged, decrement = 0, False, math.inf
    for iterations in range(1, int(max_iter) + 1):  # noqa: B007 (reported below)
        p = _sigmoid(theta[:, None] - theta[None, :])
        gradient = np.sum(score - games * p, axis=1) + prior * (0.5 - _sigmoid(theta))
        hessian = _bt_hessian(theta, games, p, prior)
        step = np.linalg.solve(hessian, gradient)
        decrement = float(gradient @ step)
        if decrement < tol:
            converged = True
            break
        t = 1.0
        while True:
            candidate = theta + t * step
            value = _bt_objective(candidate, score, prior)
            if value >= objective + 0.25 * t * decrement or t < 1e-12:
                break
            t *= 0.5
        theta, objective = candidate, value
    if not converged:
        warnings.warn(
            f"bradley_terry: Newton's method did not converge in {max_iter} iterations (Newton "
            f"decrement {decrement:.3g}, tol {tol:g}); the ratings are the last iterate",
            ConvergenceWarning,
            stacklevel=2,
        )

    p = _sigmoid(theta[:, None] - theta[None, :])
    covariance_theta = np.linalg.inv(_bt_hessian(theta, games, p, prior))
    factor = scale / LN10
    if anchor is None:
        reference = np.full(n, 1.0 / n)
        base = center
    else:
        reference = np.zeros(n)
        reference[anchor] = 1.0
        base = center if anchor_rating is None else float(anchor_rating)
    # Ratings relative to the reference (mean, or the anchor): r = base + factor * J theta.
    J = np.eye(n) - reference[None, :]
    ratings = base + factor * (J @ theta)
    covariance = factor**2 * (J @ covariance_theta @ J.T)
    covariance = 0.5 * (covariance + covariance.T)
    stderr = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    return BradleyTerry(
        ratings=ratings,
        stderr=stderr,
        lower=ratings - z * stderr,
        upper=ratings + z * stderr,
        covariance=covariance,
        games=games.sum(axis=1),
        level=level,
        log_posterior=objective,
        iterations=iterations,
        scale=scale,
        converged=converged,
    )


def _bt_hessian(theta: np.ndarray, games: np.ndarray, p: np.ndarray, prior: float) -> np.ndarray:
    """The negative Hessian of the log-posterior (positive definite)."""
    w = games * p * (1.0 - p)
    hessian = -w
    s = _sigmoid(theta)
    hessian[np.diag_indices_from(hessian)] = w.sum(axis=1) - np.diag(w) + prior * s * (1.0 - s)
    return hessian


# ---------------------------------------------------------------------------------------------
# Rank statistics


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties getting the average of their ranks."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rank correlation of two equally long sequences (ties get average ranks).

    :return: a value in [-1, 1]; NaN if either sequence is constant
    :raises ValueError: sequences of different lengths or shorter than 2, or a value that is not
        finite (a NaN has no rank: it would be ranked as the largest)
    """
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if xa.shape != ya.shape or xa.size < 2:
        raise ValueError(f"need two sequences of equal length >= 2, got {xa.size} and {ya.size}")
    _finite_array("x", xa)
    _finite_array("y", ya)
    rx, ry = _ranks(xa), _ranks(ya)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / denominator if denominator > 0 else float("nan")
