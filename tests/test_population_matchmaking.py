"""Matchmakers: random, round-robin, closest rating, self-play with a window, PFSP weightings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from thrust_population.matchmaking import (
    PFSP,
    ClosestRating,
    PoolView,
    RandomMatchmaker,
    RoundRobin,
    SelfPlay,
    circle_schedule,
    make_matchmaker,
)

NAMES = ("a", "b", "c", "d", "e")


def pool_with_record(win_rates_of_last: list[float], games: float = 100.0) -> PoolView:
    """A pool whose latest member ('e') has the given win rates against a, b, c, d."""
    n = len(NAMES)
    score = np.zeros((n, n))
    played = np.zeros((n, n))
    for j, x in enumerate(win_rates_of_last):
        score[4, j], score[j, 4] = x * games, (1 - x) * games
        played[4, j] = played[j, 4] = games
    return PoolView(NAMES, np.full(n, 1500.0), score, played, n_matches=7)


def binomial_ok(count: int, n: int, p: float) -> bool:
    """``count`` within 5 standard deviations of ``n * p``."""
    return abs(count - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 1


@pytest.mark.parametrize(
    "matchmaker",
    [RandomMatchmaker(), RoundRobin(), ClosestRating(2), SelfPlay(2, 0.3), PFSP("variance")],
    ids=lambda m: m.describe(),
)
def test_pairs_are_distinct_members_of_the_pool(matchmaker):
    pool = pool_with_record([0.2, 0.4, 0.6, 0.8])
    pairs = matchmaker.pairs(pool, 50, np.random.default_rng(0))
    assert len(pairs) == 50
    for a, b in pairs:
        assert a in NAMES and b in NAMES and a != b
    # no hidden state: the same view and generator give the same pairs
    assert matchmaker.pairs(pool, 50, np.random.default_rng(0)) == pairs


def test_matchmakers_need_two_members():
    lonely = PoolView.from_ratings(["a"])
    for matchmaker in (RandomMatchmaker(), RoundRobin(), ClosestRating(), SelfPlay(), PFSP()):
        with pytest.raises(ValueError, match="two members"):
            matchmaker.pairs(lonely, 1, np.random.default_rng(0))


def test_random_is_uniform_over_ordered_pairs():
    pool = PoolView.from_ratings(NAMES[:4])
    counts = Counter(RandomMatchmaker().pairs(pool, 12_000, np.random.default_rng(1)))
    assert len(counts) == 12
    assert all(binomial_ok(c, 12_000, 1 / 12) for c in counts.values())


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_circle_schedule_has_every_pair_once_in_rounds(n):
    schedule = circle_schedule(n)
    assert len(schedule) == n * (n - 1) // 2
    assert {frozenset(p) for p in schedule} == {
        frozenset((i, j)) for i in range(n) for j in range(i + 1, n)
    }
    # in rounds of n // 2 matches, nobody plays twice
    per_round = n // 2
    for start in range(0, len(schedule), per_round):
        players = [p for pair in schedule[start : start + per_round] for p in pair]
        assert len(players) == len(set(players))
    # over the cycle, who plays first is balanced to within a game per member
    firsts = Counter(a for a, _ in schedule)
    seconds = Counter(b for _, b in schedule)
    assert all(abs(firsts[i] - seconds[i]) <= 1 for i in range(n))


def test_round_robin_continues_from_the_record():
    schedule = circle_schedule(5)
    names = NAMES
    first = RoundRobin().pairs(PoolView.from_ratings(names, n_matches=0), 4, None)
    later = RoundRobin().pairs(PoolView.from_ratings(names, n_matches=4), 8, None)
    everything = first + later
    assert everything[:10] == [(names[a], names[b]) for a, b in schedule]
    assert everything[10:] == [(names[a], names[b]) for a, b in schedule[:2]]


def test_closest_rating_picks_the_nearest():
    pool = PoolView.from_ratings(NAMES, [1000, 1100, 1500, 1550, 2000])
    pairs = ClosestRating(1).pairs(pool, 400, np.random.default_rng(2))
    nearest = {"a": "b", "b": "a", "c": "d", "d": "c", "e": "d"}
    for a, b in pairs:
        assert nearest[a] == b
    assert {a for a, _ in pairs} == set(NAMES)
    # with two candidates, 'e' meets 'd' and 'c' about equally often
    pairs = ClosestRating(2).pairs(pool, 4000, np.random.default_rng(3))
    e_opponents = Counter(b for a, b in pairs if a == "e")
    assert set(e_opponents) == {"c", "d"}
    assert binomial_ok(e_opponents["c"], sum(e_opponents.values()), 0.5)


def test_self_play_latest_ratio_and_window():
    pool = PoolView.from_ratings(NAMES)  # the learner is 'e', the latest
    pairs = SelfPlay(window=2, latest_ratio=0.25).pairs(pool, 8000, np.random.default_rng(4))
    assert {a for a, _ in pairs} == {"e"}
    counts = Counter(b for _, b in pairs)
    assert set(counts) == {"d", "c", "b"}  # the latest snapshot and the 2 before it
    assert binomial_ok(counts["d"], 8000, 0.25)
    assert binomial_ok(counts["c"], 8000, 0.375) and binomial_ok(counts["b"], 8000, 0.375)
    # an explicit learner; window 0 means always the latest other member
    pairs = SelfPlay(window=0, learner="b").pairs(pool, 100, np.random.default_rng(5))
    assert set(pairs) == {("b", "e")}


@pytest.mark.parametrize(
    "weighting, f",
    [
        ("squared", lambda x: (1 - x) ** 2),
        ("linear", lambda x: 1 - x),
        ("variance", lambda x: x * (1 - x)),
    ],
)
def test_pfsp_draws_opponents_by_weighting(weighting, f):
    rates = [0.1, 0.3, 0.5, 0.9]
    pool = pool_with_record(rates, games=1e6)  # so the prior does not move the rates
    matchmaker = PFSP(weighting)
    candidates, p = matchmaker.probabilities(pool)
    expected = np.array([f(x) for x in rates])
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-5)
    assert [NAMES[i] for i in candidates] == ["a", "b", "c", "d"]
    pairs = matchmaker.pairs(pool, 20_000, np.random.default_rng(6))
    counts = Counter(b for _, b in pairs)
    for name, q in zip("abcd", p, strict=True):
        assert binomial_ok(counts[name], 20_000, q)


def test_pfsp_preferences():
    pool = pool_with_record([0.05, 0.5, 0.95, 0.7])
    hardest = PFSP("squared").probabilities(pool)[1]
    assert np.argmax(hardest) == 0  # the opponent 'e' loses to most
    even = PFSP("variance").probabilities(pool)[1]
    assert np.argmax(even) == 1  # the most even opponent
    # unplayed opponents count as even (x = 1/2); a window keeps the most recent only
    fresh = PoolView.from_ratings(NAMES)
    np.testing.assert_allclose(PFSP("linear").probabilities(fresh)[1], 0.25)
    candidates, _ = PFSP("linear", window=2).probabilities(fresh)
    assert [NAMES[i] for i in candidates] == ["c", "d"]


def test_pfsp_unplayed_opponents_count_by_their_ratings():
    """Without a record the Elo expectation is the win rate; a record pulls it to the record."""
    ratings = [1100.0, 1500.0, 1900.0, 1500.0, 1500.0]  # 'e' (the learner) is 1500
    fresh = PoolView.from_ratings(NAMES, ratings)
    assert fresh.win_rate(4, 0) == pytest.approx(1 / (1 + 10 ** (-400 / 400)))
    assert fresh.win_rate(4, 1) == pytest.approx(0.5)
    candidates, p = PFSP("squared").probabilities(fresh)
    assert [NAMES[i] for i in np.argsort(p)[::-1][:1]] == ["c"]  # the strongest first
    assert p[0] < p[1] < p[2]
    played = pool_with_record([0.9, 0.5, 0.5, 0.5], games=1e6)
    played = PoolView(played.names, np.array(ratings), played.score, played.games)
    assert played.win_rate(4, 0) == pytest.approx(0.9, abs=1e-5)


def test_pfsp_all_won_falls_back_to_uniform():
    pool = pool_with_record([1.0, 1.0, 1.0, 1.0], games=1e12)
    _, p = PFSP("variance", prior=1e-12).probabilities(pool)
    assert np.all(p > 0) and p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "spec, kind, description",
    [
        ("random", RandomMatchmaker, "random"),
        ("round-robin", RoundRobin, "round-robin"),
        ("fitness", ClosestRating, "fitness:2"),
        ("fitness:3", ClosestRating, "fitness:3"),
        ("self-play", SelfPlay, "self-play:5:0.5"),
        ("self-play:3:0.8", SelfPlay, "self-play:3:0.8"),
        ("pfsp", PFSP, "pfsp:squared"),
        ("pfsp:variance", PFSP, "pfsp:variance"),
        ("pfsp:linear:4", PFSP, "pfsp:linear:4:1.0"),
        ("pfsp:linear:all:2.5", PFSP, "pfsp:linear:all:2.5"),
    ],
)
def test_make_matchmaker(spec, kind, description):
    matchmaker = make_matchmaker(spec)
    assert isinstance(matchmaker, kind)
    assert matchmaker.describe() == description


@pytest.mark.parametrize(
    "matchmaker",
    [
        SelfPlay(3, 0.123456789),
        PFSP("variance", window=3),
        PFSP("linear", prior=0.3),
        PFSP("squared", window=2, prior=4.0),
        ClosestRating(5),
    ],
    ids=["self-play", "pfsp-window", "pfsp-prior", "pfsp-both", "fitness"],
)
def test_describe_is_the_spec_that_rebuilds_the_matchmaker(matchmaker):
    rebuilt = make_matchmaker(matchmaker.describe())
    assert type(rebuilt) is type(matchmaker)
    assert vars(rebuilt) == vars(matchmaker)


@pytest.mark.parametrize(
    "spec",
    [
        "nope",
        "random:1",
        "fitness:0",
        "fitness:x",
        "self-play:1:2",
        "pfsp:cubic",
        "pfsp:linear:0",
        "pfsp:linear:all:inf",
        "pfsp:linear:2:1:9",
    ],
)
def test_make_matchmaker_rejects_bad_specs(spec):
    with pytest.raises(ValueError):
        make_matchmaker(spec)


def test_pool_view_validation():
    with pytest.raises(ValueError, match="unique"):
        PoolView.from_ratings(["a", "a"])
    with pytest.raises(ValueError):
        PoolView(("a", "b"), np.zeros(3), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(KeyError):
        PoolView.from_ratings(["a", "b"]).index("c")
    # a NaN rating would sort anywhere and make every PFSP win rate NaN (a silent uniform draw)
    with pytest.raises(ValueError, match="ratings must be finite"):
        PoolView.from_ratings(["a", "b", "c"], [1500.0, float("nan"), 1400.0])
    bad = np.array([[0.0, -1.0], [1.0, 0.0]])
    for field in ("score", "games"):
        with pytest.raises(ValueError, match=f"{field} must be finite and non-negative"):
            arrays = {"score": np.zeros((2, 2)), "games": np.zeros((2, 2)), field: bad}
            PoolView(("a", "b"), np.zeros(2), arrays["score"], arrays["games"])
    with pytest.raises(ValueError, match="probabilities"):
        PoolView(
            ("a", "b"), np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), 0, np.full((2, 2), 2.0)
        )


@pytest.mark.parametrize(
    "matchmaker",
    [RandomMatchmaker(), RoundRobin(), ClosestRating(2), SelfPlay(2, 0.3), PFSP("variance")],
    ids=lambda m: m.describe(),
)
@pytest.mark.parametrize("n", [-1, 2.5, True, "3"])
def test_a_bad_number_of_pairs_is_refused(matchmaker, n):
    # -1 gave no pairs silently (PFSP: numpy's error), True one pair
    pool = pool_with_record([0.2, 0.4, 0.6, 0.8])
    with pytest.raises(ValueError, match="number of pairs must be a non-negative int"):
        matchmaker.pairs(pool, n, np.random.default_rng(0))
    assert matchmaker.pairs(pool, np.int64(0), np.random.default_rng(0)) == []


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PFSP(window=True), "window must be a positive int"),
        (lambda: PFSP(prior=float("inf")), "prior must be a positive finite number"),
        (lambda: PFSP(prior=True), "prior must be a positive finite number"),
        (lambda: SelfPlay(latest_ratio=True), "latest_ratio must be a number in"),
        (lambda: SelfPlay(latest_ratio="0.5"), "latest_ratio must be a number in"),
    ],
)
def test_bad_matchmaker_options_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
