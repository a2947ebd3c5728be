"""Ratings: online Elo, the Bradley–Terry refit (recovery, draws, prior, intervals), counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thrust_population.ratings import (
    ConvergenceWarning,
    Elo,
    EloConfig,
    bradley_terry,
    expected_score,
    pair_counts,
    spearman,
    win_rate_matrix,
)


def simulate(seed: int, n: int = 10, matches: int = 2000, spread: float = 450.0):
    """``matches`` single games between random pairs of ``n`` players whose true Bradley–Terry
    strengths (Elo scale) are evenly spaced over ``[-spread, spread]``, shuffled."""
    rng = np.random.default_rng(seed)
    truth = rng.permutation(np.linspace(-spread, spread, n)) + 1500.0
    a = rng.integers(n, size=matches)
    b = (a + 1 + rng.integers(n - 1, size=matches)) % n
    p = 1.0 / (1.0 + 10.0 ** ((truth[b] - truth[a]) / 400.0))
    score = (rng.random(matches) < p).astype(np.float64)
    return truth, a, b, score


# -- Elo ------------------------------------------------------------------------------------------


def test_elo_first_game_and_zero_sum():
    elo = Elo(EloConfig(k=32, initial=1500))
    assert elo.update("a", "b", 1.0) == (1516.0, 1484.0)
    ra, rb = elo.update("a", "b", 0.5)
    # a is now favoured, so a draw costs it: K * (0.5 - E)
    e = expected_score(1516.0, 1484.0)
    assert ra == pytest.approx(1516.0 + 32 * (0.5 - e))
    assert ra + rb == pytest.approx(3000.0)
    assert elo.rating("never-played") == 1500.0


def test_elo_expected_score_is_the_logistic_of_the_difference():
    assert expected_score(1500, 1500) == 0.5
    assert expected_score(1900, 1500) == pytest.approx(10 / 11)
    assert expected_score(1500, 1900) == pytest.approx(1 / 11)
    assert expected_score(1000, 1200, scale=200) == pytest.approx(1 / 11)


@pytest.mark.parametrize("gap", [0.0, 1.0, -250.0, 400.0, 5e3, -1e5, 123_000.0, -123_000.0])
def test_elo_expected_score_is_the_textbook_float_where_it_is_finite(gap):
    textbook = 1.0 / (1.0 + math.pow(10.0, -gap / 400.0))
    assert expected_score(1500.0 + gap, 1500.0) == textbook  # bit for bit: replays stay equal
    elo = Elo(EloConfig(k=16))
    elo.ratings.update(a=1500.0 + gap, b=1500.0)
    assert elo.update("a", "b", 1.0)[0] == 1500.0 + gap + 16.0 * (1.0 - textbook)


@pytest.mark.parametrize("gap", [123_400.0, 2e5, 1e7, 1e300])
def test_elo_survives_rating_gaps_where_the_textbook_form_overflows(gap):
    with pytest.raises(OverflowError):
        math.pow(10.0, gap / 400.0)  # the textbook form of B's expectation
    assert expected_score(1500.0, 1500.0 + gap) == pytest.approx(10.0 ** (-gap / 400.0), abs=0)
    assert expected_score(1500.0 + gap, 1500.0) == 1.0
    elo = Elo(EloConfig(k=16, anchor="big", anchor_rating=1500.0 + gap))
    # the underdog wins: it gains the whole K, the anchor stays pinned
    assert elo.update("small", "big", 1.0) == (1516.0, 1500.0 + gap)
    assert elo.update("big", "small", 1.0) == (1500.0 + gap, 1516.0)


def test_elo_anchor_is_pinned():
    config = EloConfig(k=32, initial=1200, anchor="random", anchor_rating=1000)
    elo = Elo(config)
    assert elo.rating("random") == 1000.0 and elo.rating("x") == 1200.0
    for _ in range(20):
        elo.update("x", "random", 1.0)
        elo.update("random", "y", 1.0)
    assert elo.rating("random") == 1000.0
    assert elo.rating("x") > 1200 and elo.rating("y") < 1200
    assert config.start_rating("random") == 1000.0


def test_elo_replay_gives_the_same_floats():
    truth, a, b, score = simulate(1, matches=500)
    first, second = Elo(EloConfig(k=24)), Elo(EloConfig(k=24))
    for x, y, s in zip(a, b, score, strict=True):
        first.update(str(x), str(y), s)
    # the same games grouped per match, as the store replays them
    for start in range(0, 500, 5):
        chunk = slice(start, start + 5)
        for x, y, s in zip(a[chunk], b[chunk], score[chunk], strict=True):
            second.update_games(str(x), str(y), [s])
    assert first.ratings == second.ratings


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": -1},
        {"scale": 0},
        {"initial": math.nan},
        {"anchor": ""},
        {"k": math.inf},
        {"k": True},  # was a K factor of 1
        {"anchor_rating": "1000"},  # was a TypeError
    ],
)
def test_elo_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        EloConfig(**kwargs)


def test_elo_rejects_self_play_and_bad_scores():
    elo = Elo()
    with pytest.raises(ValueError, match="itself"):
        elo.update("a", "a", 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        elo.update("a", "b", 2.0)
    for score in (True, "1", None):  # True and "1" were taken as a win
        with pytest.raises(ValueError, match=r"score must be a number in \[0, 1\]"):
            elo.update("a", "b", score)
    assert elo.ratings == {}  # nothing changed
    # a NaN rating would spread to every member that plays against it
    with pytest.raises(ValueError, match="Elo rating of 'a' must be a finite number"):
        Elo(EloConfig(), {"a": math.nan, "b": 1500.0})


def test_elo_config_round_trips_through_a_dict():
    config = EloConfig(k=10, initial=1000, scale=400, anchor="r", anchor_rating=800)
    assert EloConfig.from_dict(config.to_dict()) == config


# -- counts ---------------------------------------------------------------------------------------


def test_pair_counts_match_a_loop():
    rng = np.random.default_rng(0)
    n, m = 6, 300
    a = rng.integers(n, size=m)
    b = (a + 1 + rng.integers(n - 1, size=m)) % n
    games = rng.integers(1, 10, size=m).astype(float)
    score = np.floor(rng.random(m) * (2 * games + 1)) / 2  # multiples of 1/2 in [0, games]
    s, g = pair_counts(a, b, score, games, n)
    s_loop, g_loop = np.zeros((n, n)), np.zeros((n, n))
    for x, y, sc, gm in zip(a, b, score, games, strict=True):
        s_loop[x, y] += sc
        s_loop[y, x] += gm - sc
        g_loop[x, y] += gm
        g_loop[y, x] += gm
    np.testing.assert_allclose(s, s_loop)
    np.testing.assert_allclose(g, g_loop)
    w = win_rate_matrix(s, g)
    assert np.all(np.isnan(np.diag(w)))
    met = g > 0
    np.testing.assert_allclose((w + w.T)[met], 1.0)


@pytest.mark.parametrize(
    "a, b, s, g, match",
    [
        ([0], [0], [1], [1], "two different"),
        ([0], [3], [1], [1], "indices"),
        ([0], [1], [2], [1], "score_a"),
        ([0, 1], [1], [1], [1], "one entry"),
        ([0.9], [1.7], [1], [1], "player_a must hold integer member indices"),
        ([0], [np.float64(1.0)], [1], [1], "player_b must hold integer member indices"),
        ([False], [True], [1], [1], "player_a must hold integer member indices"),
        ([0], [1], [np.nan], [1], "score_a must be finite"),
        ([0], [1], [1], [np.inf], "games must be finite"),
    ],
)
def test_pair_counts_rejects_bad_records(a, b, s, g, match):
    with pytest.raises(ValueError, match=match):
        pair_counts(a, b, s, g, 2)


@pytest.mark.parametrize(
    ("n", "match"), [(-1, "non-negative"), (2.0, "integer"), (True, "integer")]
)
def test_pair_counts_rejects_a_bad_member_count(n, match):
    with pytest.raises(ValueError, match=f"n must be .*{match}"):
        pair_counts([], [], [], [], n)


# -- Bradley–Terry --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_bradley_terry_recovers_known_strengths_from_2000_matches(seed):
    truth, a, b, score = simulate(seed)
    s, g = pair_counts(a, b, score, np.ones_like(score), len(truth))
    fit = bradley_terry(s, g, center=1500.0)
    centred = truth - truth.mean() + 1500.0
    assert spearman(fit.ratings, truth) >= 0.95
    assert np.abs(fit.ratings - centred).mean() <= 50.0
    assert fit.ratings.mean() == pytest.approx(1500.0)
    # online Elo over the same games converges to the same order
    elo = Elo(EloConfig(k=16))
    for x, y, sc in zip(a, b, score, strict=True):
        elo.update(str(x), str(y), sc)
    online = np.array([elo.rating(str(i)) for i in range(len(truth))])
    assert spearman(online, truth) >= 0.95
    assert spearman(online, fit.ratings) >= 0.95


def test_bradley_terry_intervals_cover_the_truth():
    covered = total = 0
    for seed in range(20):
        truth, a, b, score = simulate(100 + seed, n=8, matches=1500)
        s, g = pair_counts(a, b, score, np.ones_like(score), len(truth))
        fit = bradley_terry(s, g, level=0.9)
        centred = truth - truth.mean() + 1500.0
        covered += int(np.sum((fit.lower <= centred) & (centred <= fit.upper)))
        total += len(truth)
        assert np.all(fit.upper - fit.lower > 0)
    # nominal 90%; 160 intervals: a binomial 99.9% band is about [0.83, 0.96]
    assert 0.82 <= covered / total <= 0.97


def test_bradley_terry_maximises_the_posterior():
    truth, a, b, score = simulate(7, n=5, matches=400)
    s, g = pair_counts(a, b, score, np.ones_like(score), 5)
    prior = 2.0
    fit = bradley_terry(s, g, prior=prior)
    theta = (fit.ratings - 1500.0) * math.log(10) / 400.0

    def log_post(t: np.ndarray) -> float:
        d = t[:, None] - t[None, :]
        value = np.sum(s * -np.logaddexp(0, -d))
        return value + 0.5 * prior * np.sum(-np.logaddexp(0, -t) - np.logaddexp(0, t))

    # The reported ratings are centred: the optimum is theta + c, where c zeroes the sum of the
    # gradient (only the prior depends on c). Find c by bisection, then check the gradient.
    lo, hi = -5.0, 5.0
    for _ in range(200):
        c = 0.5 * (lo + hi)
        if np.sum(0.5 - 1.0 / (1.0 + np.exp(-(theta + c)))) > 0:
            lo = c
        else:
            hi = c
    optimum = theta + 0.5 * (lo + hi)
    h = 1e-5
    gradient = [
        (log_post(optimum + h * e) - log_post(optimum - h * e)) / (2 * h) for e in np.eye(5)
    ]
    np.testing.assert_allclose(gradient, 0.0, atol=1e-5)


def test_two_players_without_prior_give_the_log_odds():
    s = np.array([[0.0, 30.0], [10.0, 0.0]])
    g = np.array([[0.0, 40.0], [40.0, 0.0]])
    fit = bradley_terry(s, g, prior=1e-9)
    assert fit.ratings[0] - fit.ratings[1] == pytest.approx(400 * math.log10(3.0), abs=1e-3)
    assert fit.expected(0, 1) == pytest.approx(0.75, abs=1e-6)


def test_draws_count_half():
    draws_only = bradley_terry(np.array([[0.0, 5.0], [5.0, 0.0]]), np.array([[0, 10.0], [10, 0]]))
    np.testing.assert_allclose(draws_only.ratings, [1500.0, 1500.0])
    # 2 wins + 2 draws + 1 loss == 3 points of 5
    s = np.array([[0.0, 3.0], [2.0, 0.0]])
    g = np.array([[0.0, 5.0], [5.0, 0.0]])
    fit = bradley_terry(s, g, prior=1e-9)
    assert fit.expected(0, 1) == pytest.approx(0.6, abs=1e-6)


def test_unbeaten_players_stay_finite_and_on_top():
    # player 0 won all its 20 games; player 1 beat player 2 in 7 of 10
    s = np.array([[0, 10, 10], [0, 0, 7], [0, 3, 0.0]])
    g = np.array([[0, 10, 10], [10, 0, 10], [10, 10, 0.0]])
    fit = bradley_terry(s, g)
    assert np.all(np.isfinite(fit.ratings)) and np.all(np.isfinite(fit.stderr))
    assert fit.ratings[0] > fit.ratings[1] > fit.ratings[2]
    weaker_prior = bradley_terry(s, g, prior=0.01)
    assert weaker_prior.ratings[0] - weaker_prior.ratings[1] > fit.ratings[0] - fit.ratings[1]


def test_anchor_pins_the_fit_and_has_no_error():
    truth, a, b, score = simulate(3, n=6, matches=1200)
    s, g = pair_counts(a, b, score, np.ones_like(score), 6)
    free = bradley_terry(s, g)
    anchored = bradley_terry(s, g, anchor=2, anchor_rating=1000.0)
    assert anchored.ratings[2] == 1000.0 and anchored.stderr[2] == 0.0
    np.testing.assert_allclose(
        anchored.ratings - anchored.ratings[2], free.ratings - free.ratings[2], atol=1e-9
    )
    # the others' errors grow: they now include the anchor's uncertainty
    assert np.all(np.delete(anchored.stderr, 2) > 0)


def test_unmet_members_get_the_centre_and_wide_intervals():
    s = np.zeros((3, 3))
    g = np.zeros((3, 3))
    s[0, 1], s[1, 0], g[0, 1], g[1, 0] = 20, 20, 40, 40
    fit = bradley_terry(s, g)
    assert fit.games.tolist() == [40, 40, 0]
    np.testing.assert_allclose(fit.ratings, 1500.0, atol=1e-9)
    # (errors are relative to the mean, which includes the unmet member's uncertainty)
    c = fit.covariance
    difference_01 = math.sqrt(c[0, 0] + c[1, 1] - 2 * c[0, 1])
    assert fit.stderr[2] > fit.stderr[0] and fit.stderr[2] > 3 * difference_01


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prior": 0}, "prior"),
        ({"level": 1.0}, "level"),
        ({"anchor": 5}, "anchor"),
        ({"anchor": 1.5}, "anchor must be an integer"),
        ({"anchor": True}, "anchor must be an integer"),
        ({"anchor_rating": float("nan")}, "anchor_rating must be a finite"),
        ({"level": "x"}, "level must be a finite number"),
        ({"prior": True}, "prior"),
        ({"scale": -400.0}, "scale must be positive"),
        ({"scale": 0}, "scale must be positive"),
        ({"center": float("nan")}, "center must be a finite number"),
        ({"center": "1500"}, "center must be a finite number"),
        ({"max_iter": 0}, "max_iter must be at least 1"),
        ({"max_iter": 2.5}, "max_iter must be an integer"),
        ({"tol": -1.0}, "tol must be positive"),
    ],
)
def test_bradley_terry_rejects_bad_options(kwargs, match):
    s = np.array([[0.0, 1.0], [1.0, 0.0]])
    g = np.array([[0.0, 2.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match=match):
        bradley_terry(s, g, **kwargs)


def test_bradley_terry_warns_when_newton_has_not_converged():
    truth, a, b, score = simulate(0)
    s, g = pair_counts(a, b, score, np.ones_like(score), len(truth))
    converged = bradley_terry(s, g)
    assert converged.converged and converged.iterations > 2
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iterations"):
        stopped = bradley_terry(s, g, max_iter=2)
    assert not stopped.converged and stopped.iterations == 2
    assert np.max(np.abs(stopped.ratings - converged.ratings)) > 1e-6  # the last iterate


def test_bradley_terry_rejects_inconsistent_counts():
    with pytest.raises(ValueError, match="symmetric"):
        bradley_terry(np.zeros((2, 2)), np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="score"):
        bradley_terry(np.array([[0.0, 3.0], [0.0, 0.0]]), np.array([[0.0, 2.0], [2.0, 0.0]]))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 7))
def test_bradley_terry_is_permutation_equivariant(seed, n):
    rng = np.random.default_rng(seed)
    m = 60
    a = rng.integers(n, size=m)
    b = (a + 1 + rng.integers(n - 1, size=m)) % n
    games = rng.integers(1, 5, size=m).astype(float)
    score = np.floor(rng.random(m) * (2 * games + 1)) / 2
    s, g = pair_counts(a, b, score, games, n)
    perm = rng.permutation(n)
    fit = bradley_terry(s, g)
    fit_p = bradley_terry(s[np.ix_(perm, perm)], g[np.ix_(perm, perm)])
    np.testing.assert_allclose(fit_p.ratings, fit.ratings[perm], atol=1e-6)
    np.testing.assert_allclose(fit_p.stderr, fit.stderr[perm], atol=1e-6)


# -- rank correlation -----------------------------------------------------------------------------


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: ranks (1.5, 1.5, 3) against (1, 2, 3)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        spearman([1], [1])
    with pytest.raises(ValueError, match="must be finite"):  # was 0.5: NaN ranked as the largest
        spearman([1.0, math.nan, 2.0], [1.0, 2.0, 3.0])
