"""Nash averaging and alpha-rank: rock-paper-scissors, clones, transitive games, random games."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thrust_population.gametheory import (
    _equilibrium_maximizing,
    alpha_rank,
    nash_averaging,
    payoff_matrix,
)
from thrust_population.ratings import bradley_terry

RPS = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])


def entropy(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log(q)).sum())


def test_rock_paper_scissors_players_get_equal_nash_ratings():
    result = nash_averaging(RPS)
    np.testing.assert_allclose(result.mixture, 1 / 3, atol=1e-9)
    np.testing.assert_allclose(result.ratings, 0.0, atol=1e-9)
    assert result.support.tolist() == [0, 1, 2]


def test_nash_averaging_is_invariant_to_clones_where_bradley_terry_is_not():
    # a cyclic game (0 beats 1 beats 2 beats 0) with member 0 twice: the record of 100 games per
    # pair, draws between the clones
    idx = [0, 0, 1, 2]
    sign = RPS[np.ix_(idx, idx)]
    games = 100.0 * (1 - np.eye(4))
    score = np.where(sign > 0, 100.0, np.where(sign < 0, 0.0, 50.0)) * (1 - np.eye(4))
    result = nash_averaging(payoff_matrix(score, games))
    np.testing.assert_allclose(result.ratings, 0.0, atol=1e-9)
    np.testing.assert_allclose(result.mixture, [1 / 6, 1 / 6, 1 / 3, 1 / 3], atol=1e-7)
    # Bradley–Terry is moved by the clone: member 3 (beats both clones) comes out on top,
    # member 2 (beaten by both) at the bottom
    bt = bradley_terry(score, games)
    assert bt.ratings[3] > bt.ratings[0] + 50 and bt.ratings[2] < bt.ratings[0] - 50


def test_maximum_entropy_among_many_equilibria():
    # RPS plus a member that ties everyone: (x, x, x, 1 - 3x) is an equilibrium for every x
    a = np.zeros((4, 4))
    a[:3, :3] = RPS
    result = nash_averaging(a)
    np.testing.assert_allclose(result.mixture, 0.25, atol=1e-8)


def test_dominated_members_are_rated_below_the_support():
    a = np.zeros((5, 5))
    a[:3, :3] = RPS
    a[3, :3], a[:3, 3] = -0.5, 0.5  # loses to all of R, P, S
    a[4, :3], a[:3, 4] = -0.2, 0.2
    a[3, 4], a[4, 3] = 0.1, -0.1
    result = nash_averaging(a)
    np.testing.assert_allclose(result.mixture, [1 / 3, 1 / 3, 1 / 3, 0, 0], atol=1e-9)
    np.testing.assert_allclose(result.ratings, [0, 0, 0, -0.5, -0.2], atol=1e-9)


def test_transitive_game_puts_the_equilibrium_on_the_best():
    strength = np.array([0.3, 1.5, -0.2, 0.9])
    a = strength[:, None] - strength[None, :]
    result = nash_averaging(a)
    np.testing.assert_allclose(result.mixture, [0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(result.ratings, strength - 1.5, atol=1e-12)


def _vertices(a: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Equilibria maximising random linear objectives: vertices of the equilibrium polytope."""
    return [_equilibrium_maximizing(a, rng.normal(size=len(a))) for _ in range(count)]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 7))
def test_random_games_give_a_maximum_entropy_equilibrium(seed, n):
    rng = np.random.default_rng(seed)
    # small integer payoffs: many ties, degenerate games with many equilibria
    upper = np.triu(rng.integers(-2, 3, size=(n, n)).astype(float), 1)
    a = upper - upper.T
    result = nash_averaging(a)
    p = result.mixture
    assert p.min() >= 0 and p.sum() == pytest.approx(1.0)
    assert (a @ p).max() <= 1e-8  # nobody gains against p: an equilibrium
    np.testing.assert_allclose(result.ratings, a @ p)
    np.testing.assert_allclose(result.ratings[result.support], 0.0, atol=1e-8)
    # no mixture of other equilibria has more entropy
    vertices = _vertices(a, 8, rng)
    for vertex in vertices:
        assert (a @ vertex).max() <= 1e-8
    best = entropy(p)
    for _ in range(30):
        w = rng.dirichlet(np.ones(len(vertices)))
        assert entropy(np.sum(w[:, None] * np.array(vertices), axis=0)) <= best + 1e-7


def test_larger_random_game():
    rng = np.random.default_rng(3)
    upper = np.triu(rng.normal(size=(60, 60)), 1)
    a = upper - upper.T
    result = nash_averaging(a)
    assert (a @ result.mixture).max() <= 1e-9
    assert 1 < len(result.support) < 60


def test_payoff_matrix_kinds():
    score = np.array([[0.0, 30.0, 5.0], [10.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    games = np.array([[0.0, 40.0, 10.0], [40.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    logit = payoff_matrix(score, games, prior=1.0)
    np.testing.assert_allclose(logit, -logit.T)
    assert logit[0, 1] == pytest.approx(np.log(30.5 / 10.5))
    assert logit[1, 2] == 0.0  # never met
    margin = payoff_matrix(score, games, kind="margin", prior=1.0)
    assert margin[0, 1] == pytest.approx(30.5 / 41 - 0.5)
    with pytest.raises(ValueError, match="kind"):
        payoff_matrix(score, games, kind="nope")


def test_nash_averaging_rejects_bad_payoffs():
    with pytest.raises(ValueError, match="antisymmetric"):
        nash_averaging(np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="square"):
        nash_averaging(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        nash_averaging(np.array([[0.0, np.inf], [-np.inf, 0.0]]))


def test_alpha_rank_rock_paper_scissors_is_uniform():
    win = (RPS + 1) / 2
    result = alpha_rank(win)
    np.testing.assert_allclose(result.ratings, 1 / 3, atol=1e-9)
    np.testing.assert_allclose(result.transitions.sum(axis=1), 1.0)


def test_alpha_rank_transitive_concentrates_on_the_best():
    strength = np.array([0.0, 2.0, 1.0])
    win = 1 / (1 + np.exp(-(strength[:, None] - strength[None, :])))
    result = alpha_rank(win, alpha=50.0)
    assert np.argmax(result.ratings) == 1 and result.ratings[1] > 0.99
    # with weak selection the mass spreads but keeps the order
    weak = alpha_rank(win, alpha=0.5)
    assert weak.ratings[1] > weak.ratings[2] > weak.ratings[0]


def test_alpha_rank_two_members_is_the_moran_closed_form():
    # constant-sum: the fitness gap is alpha m / (m - 1) (w - 1/2) at every mutant count, so the
    # fixation probability is Moran's (1 - e^-u) / (1 - e^-mu) (Omidshafiei et al. 2019)
    w, alpha, m = 0.8, 2.0, 7
    result = alpha_rank(np.array([[0.5, w], [1 - w, 0.5]]), alpha=alpha, population_size=m)

    def rho(u: float) -> float:
        return (1 - np.exp(-u)) / (1 - np.exp(-m * u))

    u = alpha * m / (m - 1) * (w - 0.5)
    np.testing.assert_allclose(result.transitions[1, 0], rho(u), rtol=1e-12)
    np.testing.assert_allclose(result.transitions[0, 1], rho(-u), rtol=1e-12)
    top = rho(u) / (rho(u) + rho(-u))  # detailed balance of the two-state chain
    np.testing.assert_allclose(result.ratings, [top, 1 - top], rtol=1e-12)


def test_alpha_rank_equals_the_papers_sum_of_products():
    # a general (not constant-sum) 3x3 game: rho = 1 / (1 + sum_l prod_k exp(-alpha (f_r - f_s)))
    # with k mutants' fitness ((k-1) M_rr + (m-k) M_rs) / (m-1), the residents'
    # (k M_sr + (m-k-1) M_ss) / (m-1); stationary distribution by eigenvector
    payoff = np.array([[0.5, 0.7, 0.2], [0.1, 0.6, 0.9], [0.8, 0.3, 0.4]])
    alpha, m, n = 1.5, 9, 3
    chain = np.zeros((n, n))
    for s, r in itertools.permutations(range(n), 2):
        total = 1.0
        for last in range(1, m):
            product = 1.0
            for k in range(1, last + 1):
                f_r = ((k - 1) * payoff[r, r] + (m - k) * payoff[r, s]) / (m - 1)
                f_s = (k * payoff[s, r] + (m - k - 1) * payoff[s, s]) / (m - 1)
                product *= np.exp(-alpha * (f_r - f_s))
            total += product
        chain[s, r] = 1 / total / (n - 1)
    chain[np.diag_indices(n)] = 1 - chain.sum(axis=1)
    values, vectors = np.linalg.eig(chain.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    result = alpha_rank(payoff, alpha=alpha, population_size=m)
    np.testing.assert_allclose(result.transitions, chain, atol=1e-14)
    np.testing.assert_allclose(result.ratings, pi / pi.sum(), atol=1e-12)


def test_alpha_rank_is_permutation_equivariant():
    rng = np.random.default_rng(1)
    p = rng.random((5, 5))
    win = np.triu(p, 1) + np.tril(1 - p.T, -1) + 0.5 * np.eye(5)
    base = alpha_rank(win).ratings
    for perm in itertools.islice(itertools.permutations(range(5)), 0, 120, 17):
        perm = list(perm)
        np.testing.assert_allclose(
            alpha_rank(win[np.ix_(perm, perm)]).ratings, base[perm], atol=1e-12
        )


def test_alpha_rank_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        alpha_rank(np.array([[0.5, np.nan], [np.nan, 0.5]]))
    with pytest.raises(ValueError, match="alpha"):
        alpha_rank(np.full((2, 2), 0.5), alpha=0)
    with pytest.raises(ValueError, match="population_size"):
        alpha_rank(np.full((2, 2), 0.5), population_size=1)
    # an infinite alpha was LAPACK's LinAlgError, a population of 2.7 silently one of 2
    for alpha in (np.inf, np.nan, True):
        with pytest.raises(ValueError, match="alpha must be a finite number"):
            alpha_rank(np.full((3, 3), 0.5), alpha=alpha)
    for size in (2.7, True, np.float64(50.0)):
        with pytest.raises(ValueError, match="population_size must be an integer"):
            alpha_rank(np.full((3, 3), 0.5), population_size=size)


def test_bad_options_of_the_payoff_and_nash_averaging_are_refused():
    score, games = np.array([[0.0, 3.0], [1.0, 0.0]]), np.array([[0.0, 4.0], [4.0, 0.0]])
    for prior in (np.inf, np.nan, True, 0.0):  # an infinite prior made every payoff NaN
        with pytest.raises(ValueError, match="prior must be"):
            payoff_matrix(score, games, prior=prior)
    for tol in (-1.0, np.nan):  # a NaN tolerance was numpy's "zero-size array" error
        with pytest.raises(ValueError, match="tol must be"):
            nash_averaging(RPS, tol=tol)
