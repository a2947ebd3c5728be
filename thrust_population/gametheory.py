"""Ratings for non-transitive populations: Nash averaging and alpha-rank (numpy only).

Elo and Bradley–Terry assume a transitive order; in rock-paper-scissors they rate everyone the
same only by accident of the schedule, and adding copies of one player shifts everyone else.
Two remedies over the empirical payoff matrix:

- :func:`nash_averaging` (Balduzzi et al., "Re-evaluating evaluation", 2018): the maximum-
  entropy Nash equilibrium ``p*`` of the symmetric zero-sum game with antisymmetric payoffs
  ``A``, and each member's rating ``(A p*)_i``, its payoff against that equilibrium mixture
  (0 for every member in the equilibrium's support, negative for the others). Invariant to
  duplicated members.
- :func:`alpha_rank` (Omidshafiei et al., 2019), single population: the stationary distribution
  of an evolutionary Markov chain over members, which concentrates on the members that
  mutants cannot invade.

:func:`payoff_matrix` builds the antisymmetric matrix from the ``[n, n]`` score and game counts of
:func:`thrust_population.ratings.pair_counts`. The linear programs are solved with a small dense
simplex method and the entropy maximisation with a barrier method, so nothing beyond numpy is
needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from thrust_population.ratings import _check_counts, _index, _real

__all__ = ["AlphaRank", "NashAverage", "alpha_rank", "nash_averaging", "payoff_matrix"]


def payoff_matrix(
    score: np.ndarray, games: np.ndarray, *, kind: str = "logit", prior: float = 1.0
) -> np.ndarray:
    """The antisymmetric payoff matrix of a record of games.

    With ``prior`` virtual games split evenly between each pair, the smoothed win rate is
    ``w = (score + prior / 2) / (games + prior)`` (0.5 for pairs that never met), and

    - ``kind="logit"``: ``A[i, j] = log(w / (1 - w))`` (the Bradley–Terry strength difference),
    - ``kind="margin"``: ``A[i, j] = w - 1/2``.

    :param score: ``[n, n]``: i's total score against j (wins + draws / 2)
    :param games: ``[n, n]``: games between i and j
    :return: float64 ``[n, n]`` with ``A == -A.T``
    :raises ValueError: inconsistent counts, a prior not positive and finite, an unknown
        ``kind``
    """
    score, games = _check_counts(score, games)
    if _real("prior", prior) <= 0:
        raise ValueError(f"prior must be positive, got {prior!r}")
    w = (score + prior / 2.0) / (games + prior)
    if kind == "logit":
        payoff = np.log(w) - np.log1p(-w)
    elif kind == "margin":
        payoff = w - 0.5
    else:
        raise ValueError(f"kind must be 'logit' or 'margin', got {kind!r}")
    payoff = 0.5 * (payoff - payoff.T)
    np.fill_diagonal(payoff, 0.0)
    return payoff


def _check_antisymmetric(payoff: np.ndarray) -> np.ndarray:
    a = np.asarray(payoff, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"payoff must be a non-empty square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("payoff must be finite")
    scale = max(1.0, float(np.abs(a).max()))
    if not np.allclose(a, -a.T, atol=1e-9 * scale, rtol=0.0):
        raise ValueError("payoff must be antisymmetric (payoff == -payoff.T)")
    return 0.5 * (a - a.T)


# ---------------------------------------------------------------------------------------------
# A dense lexicographic simplex method: maximise c_1.x, then c_2.x among the optima, and so on,
# subject to G x <= h, x >= 0, with h > 0 (the origin is a feasible vertex).


def _lexicographic_simplex(
    objectives: list[np.ndarray], G: np.ndarray, h: np.ndarray, tol: float = 1e-9
) -> np.ndarray:
    """Solve ``lexmax (c_1.x, c_2.x, ...)  s.t.  G x <= h, x >= 0`` for ``h > 0``.

    Tableau simplex. Objective ``k`` is optimised over the optimal face of objectives
    ``1..k-1`` by letting only the columns with zero reduced cost for all of them enter.
    Dantzig's rule, switching to Bland's rule (which cannot cycle) after a run of degenerate
    pivots. The problems here are bounded by construction.
    """
    m, n = G.shape
    q = len(objectives)
    tableau = np.zeros((m + q, n + m + 1))
    tableau[:m, :n] = G
    tableau[:m, n : n + m] = np.eye(m)
    tableau[:m, -1] = h
    for k, c in enumerate(objectives):
        tableau[m + k, :n] = -c
    basis = np.arange(n, n + m)
    for k in range(q):
        eligible = np.ones(n + m, dtype=bool)
        for r in range(k):
            eligible &= tableau[m + r, :-1] <= tol
        degenerate = 0
        for _ in range(50 * (n + m) + 1000):
            costs = np.where(eligible, tableau[m + k, :-1], 0.0)
            if degenerate > 2 * (n + m):
                candidates = np.flatnonzero(costs < -tol)
                if candidates.size == 0:
                    break
                enter = int(candidates[0])
            else:
                enter = int(np.argmin(costs))
                if costs[enter] >= -tol:
                    break
            column = tableau[:m, enter]
            rows = np.flatnonzero(column > tol)
            if rows.size == 0:
                raise RuntimeError("linear program is unbounded (should not happen here)")
            ratios = tableau[rows, -1] / column[rows]
            best = ratios.min()
            ties = rows[ratios <= best + tol]
            leave = int(ties[np.argmin(basis[ties])])
            degenerate = degenerate + 1 if best <= tol else 0
            tableau[leave] /= tableau[leave, enter]
            factors = tableau[:, enter].copy()
            factors[leave] = 0.0
            tableau -= np.outer(factors, tableau[leave])
            basis[leave] = enter
        else:
            raise RuntimeError("simplex method did not converge")
    x = np.zeros(n + m)
    x[basis] = tableau[:m, -1]
    return np.clip(x[:n], 0.0, None)


def _equilibrium_maximizing(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A Nash equilibrium ``p`` (``p >= 0``, ``sum p = 1``, ``A p <= 0``) maximising ``c.p``.

    The classic game LP: with ``B = A + shift > 0``, the column player's optimal strategies are
    ``y / sum(y)`` for the maximisers ``y`` of ``sum(y)`` subject to ``B y <= 1, y >= 0``
    (the game's value is 0, so ``sum(y) = 1 / shift`` on that face); ``c.y`` is maximised
    second. A symmetric game's optimal strategies are the same for both players.
    """
    n = a.shape[0]
    shift = 1.0 + float(np.abs(a).max())
    y = _lexicographic_simplex([np.ones(n), c], a + shift, np.ones(n))
    total = y.sum()
    if not total > 0:
        raise RuntimeError("failed to find an equilibrium of the payoff matrix")
    return y / total


@dataclass(frozen=True)
class NashAverage:
    """The result of :func:`nash_averaging`.

    Attributes:
        ratings: float64 ``[n]``: ``(A p*)_i``, member i's payoff against the equilibrium
            mixture (0 on its support, < 0 off it), in the payoff's units
        mixture: float64 ``[n]``: the maximum-entropy Nash equilibrium ``p*``
        support: int64 ``[k]``: members that some equilibrium plays
    """

    ratings: np.ndarray
    mixture: np.ndarray
    support: np.ndarray


def nash_averaging(payoff: np.ndarray, *, tol: float = 1e-9) -> NashAverage:
    """Nash averaging of a symmetric zero-sum game (Balduzzi et al., 2018).

    The equilibria of the game with antisymmetric payoff ``A`` (``A[i, j]``: what i wins from j)
    form the polytope ``{p in simplex : A p <= 0}``. The maximum-entropy one is unique:

    1. linear programs find equilibria that together use every member that any equilibrium uses
       (the support) and leave every other member strictly worse off; their mean is a strictly
       complementary equilibrium;
    2. a barrier method maximises the entropy over the equilibria from that point.

    :param payoff: antisymmetric ``[n, n]`` (e.g. from :func:`payoff_matrix`)
    :param tol: support and slack tolerance, relative to the largest payoff (>= 0)
    :return: ratings ``A p*``, the mixture ``p*`` and its support
    :raises ValueError: a payoff that is not a finite antisymmetric square matrix, a bad ``tol``
    """
    a = _check_antisymmetric(payoff)
    if _real("tol", tol) < 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    n = a.shape[0]
    eps = tol * max(1.0, float(np.abs(a).max()))
    solutions: list[np.ndarray] = []
    covered = np.zeros(n, dtype=bool)
    for j in range(n):
        if covered[j]:
            continue
        c = -a[j].copy()
        c[j] += 1.0  # maximise p_j - (A p)_j: some equilibrium makes one of them nonzero
        p = _equilibrium_maximizing(a, c)
        solutions.append(p)
        covered |= (p > eps) | (a @ p < -eps)
    p0 = np.mean(solutions, axis=0)
    support = np.flatnonzero(p0 > eps / max(1, len(solutions)))
    mixture = _max_entropy_equilibrium(a, support, p0)
    return NashAverage(ratings=a @ mixture, mixture=mixture, support=support)


def _max_entropy_equilibrium(a: np.ndarray, support: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Maximise entropy over ``{p : supp p in S, A_SS p_S = 0, sum p_S = 1, A_cS p_S <= 0}``."""
    n = a.shape[0]
    s = support
    outside = np.setdiff1d(np.arange(n), s)
    mixture = np.zeros(n)
    if s.size == 1:
        mixture[s] = 1.0
        return mixture
    a_ss = a[np.ix_(s, s)]
    a_cs = a[np.ix_(outside, s)]
    # Every equilibrium satisfies E p_S = (0, ..., 0, 1); parametrise p_S = base + N z.
    e = np.vstack([a_ss, np.ones((1, s.size))])
    rhs = np.zeros(s.size + 1)
    rhs[-1] = 1.0
    base = p0[s] / p0[s].sum()
    base = base - np.linalg.pinv(e) @ (e @ base - rhs)
    _, sv, vt = np.linalg.svd(e)
    rank = int(np.sum(sv > 1e-10 * max(1.0, sv.max())))
    null = vt[rank:].T  # [k, d]
    if null.shape[1] == 0 or np.any(base <= 0) or np.any(a_cs @ base >= 0):
        mixture[s] = np.clip(base, 0.0, None) / np.clip(base, 0.0, None).sum()
        return mixture

    def barrier(z: np.ndarray, t: float) -> float:
        p = base + null @ z
        g = -(a_cs @ p)
        if np.any(p <= 0) or np.any(g <= 0):
            return -math.inf
        return float(-t * np.sum(p * np.log(p)) + np.sum(np.log(p)) + np.sum(np.log(g)))

    z = np.zeros(null.shape[1])
    constraints = s.size + outside.size
    t = 1.0
    while constraints / t > 1e-13:
        value = barrier(z, t)
        for _ in range(100):
            p = base + null @ z
            g = -(a_cs @ p)
            grad_p = t * (-np.log(p) - 1.0) + 1.0 / p - a_cs.T @ (1.0 / g)
            hess_p = -np.diag(t / p + 1.0 / p**2) - (a_cs.T * (1.0 / g**2)) @ a_cs
            grad = null.T @ grad_p
            hess = null.T @ hess_p @ null
            step = -np.linalg.solve(hess, grad)
            decrement = float(grad @ step)  # > 0: hess is negative definite
            if decrement < 1e-24 * t or float(np.abs(null @ step).max()) < 1e-15:
                break
            size = 1.0
            while True:
                candidate = z + size * step
                new = barrier(candidate, t)
                if new >= value + 0.25 * size * decrement or size < 1e-14:
                    break
                size *= 0.5
            if new == -math.inf:
                break
            z, value = candidate, new
        t *= 10.0
    p = np.clip(base + null @ z, 0.0, None)
    mixture[s] = p / p.sum()
    return mixture


# ---------------------------------------------------------------------------------------------
# alpha-rank


@dataclass(frozen=True)
class AlphaRank:
    """The result of :func:`alpha_rank`.

    Attributes:
        ratings: float64 ``[n]``: the stationary distribution (sums to 1; higher is stronger)
        transitions: float64 ``[n, n]``: the Markov chain over members (rows sum to 1)
    """

    ratings: np.ndarray
    transitions: np.ndarray


def alpha_rank(
    win_rate: np.ndarray, *, alpha: float = 10.0, population_size: int = 50
) -> AlphaRank:
    """Single-population alpha-rank (Omidshafiei et al., 2019) of a symmetric game.

    A population of ``population_size`` players all using member ``s`` is invaded by one
    mutant using ``r``; the mutant takes over with the Fermi fixation probability at selection
    intensity ``alpha``, fitness being the expected payoff in the mixed population. The chain
    moves from ``s`` to each ``r`` with ``1 / (n - 1)`` times that probability; the ratings are
    its stationary distribution.

    :param win_rate: ``[n, n]``: payoff of i against j, e.g. win rates with
        ``w[i, j] + w[j, i] == 1`` (diagonal 0.5); any finite values work
    :param alpha: selection intensity (> 0 and finite)
    :param population_size: population size, an int ``m >= 2``
    :return: the stationary distribution and the transition matrix
    :raises ValueError: a payoff that is not a finite square matrix, a bad ``alpha`` or ``m``
    """
    m_payoff = np.asarray(win_rate, dtype=np.float64)
    if m_payoff.ndim != 2 or m_payoff.shape[0] != m_payoff.shape[1] or m_payoff.shape[0] == 0:
        raise ValueError(f"win_rate must be a non-empty square matrix, got {m_payoff.shape}")
    if not np.all(np.isfinite(m_payoff)):
        raise ValueError("win_rate must be finite (fill pairs that never met, e.g. with 0.5)")
    if _real("alpha", alpha) <= 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    if _index("population_size", population_size) < 2:
        raise ValueError(f"population_size must be at least 2, got {population_size}")
    n, m = m_payoff.shape[0], int(population_size)
    if n == 1:
        return AlphaRank(np.ones(1), np.ones((1, 1)))
    k = np.arange(1, m)  # number of mutants
    transitions = np.zeros((n, n))
    for s in range(n):
        for r in range(n):
            if r == s:
                continue
            f_mutant = ((k - 1) * m_payoff[r, r] + (m - k) * m_payoff[r, s]) / (m - 1)
            f_resident = (k * m_payoff[s, r] + (m - k - 1) * m_payoff[s, s]) / (m - 1)
            exponents = np.concatenate([[0.0], np.cumsum(-alpha * (f_mutant - f_resident))])
            log_total = np.logaddexp.reduce(exponents)
            transitions[s, r] = math.exp(-log_total) / (n - 1)
        transitions[s, s] = 1.0 - transitions[s].sum()
    system = np.vstack([transitions.T - np.eye(n), np.ones((1, n))])
    rhs = np.zeros(n + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return AlphaRank(ratings=pi / pi.sum(), transitions=transitions)
