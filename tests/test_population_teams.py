"""Team evaluation for cooperative games (``thrust_population.teams``): team returns equal the
sum of the agents' returns in PettingZoo's own API, one game at a time; quotas, common seeds,
ranking, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import thrust_envs
from thrust_envs.multiagent.bucket_brigade import free_rider_bot, hero_bot, preset_kwargs
from thrust_population.teams import evaluate_teams, play_team

BUCKET = "Thrust/BucketBrigade-v0"
SNAKE = "Thrust/Snake-v0"


def reference_returns(env_id: str, seats, seed: int, **kwargs) -> list[float]:
    """One game through the PettingZoo parallel env, seat ``a`` playing agent ``a``."""
    env = thrust_envs.make_parallel(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    names = list(env.possible_agents)
    total = dict.fromkeys(names, 0.0)
    while env.agents:
        actions = {a: seats[names.index(a)](obs[a][None])[0] for a in env.agents}
        obs, rewards, _, _, _ = env.step(actions)
        for a, r in rewards.items():
            total[a] += r
    env.close()
    return [total[a] for a in names]


def _deterministic_snake(k: int):
    """A policy whose action depends on the observation only (no generator), so that batching
    games cannot change what it plays."""

    def act(obs: np.ndarray) -> np.ndarray:
        flat = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)
        return (np.round(flat @ np.sin(np.arange(flat.shape[1]) + k) * 100) % 4).astype(np.int64)

    return act


@pytest.mark.parametrize(
    ("env_id", "seats", "kwargs"),
    [
        (BUCKET, [free_rider_bot(), hero_bot(), hero_bot(), hero_bot()], {}),
        (SNAKE, [_deterministic_snake(k) for k in range(4)], {}),  # snakes die one by one
    ],
)
def test_returns_equal_pettingzoo_one_game_at_a_time(env_id, seats, kwargs):
    returns = play_team(env_id, seats, 4, n_envs=4, seed=11, **kwargs)
    assert returns.shape == (4, len(seats))
    for i in range(4):
        expected = reference_returns(env_id, seats, 11 + i, **kwargs)
        np.testing.assert_allclose(returns[i], expected, atol=1e-5)


def test_quota_per_slot_and_same_seed_same_games():
    hero = hero_bot()
    a = play_team(BUCKET, [hero] * 4, 10, n_envs=4, seed=3)
    b = play_team(BUCKET, [hero] * 4, 10, n_envs=4, seed=3)
    assert a.shape == (10, 4)
    np.testing.assert_array_equal(a, b)
    # slots 0 and 1 play 3 games, slots 2 and 3 play 2: slot 2's first game opens the third row
    # block, and equals that slot's game in a run with one game per slot
    one_each = play_team(BUCKET, [hero] * 4, 4, n_envs=4, seed=3)
    np.testing.assert_array_equal(a[[0, 3, 6, 8]], one_each)
    assert not np.array_equal(play_team(BUCKET, [hero] * 4, 10, n_envs=4, seed=4), a)


def test_evaluate_teams_ranks_by_team_return():
    hero, rider = hero_bot(), free_rider_bot()
    table = evaluate_teams(
        BUCKET,
        {"riders": [rider] * 4, "heroes": [hero] * 4, "mixed": [rider, hero, hero, hero]},
        200,
        **preset_kwargs("default"),
    )
    assert [row.name for row in table.rows] == ["heroes", "mixed", "riders"]
    for row in table.rows:
        assert row.games == 200
        assert row.interval[0] < row.team_return < row.interval[1]
        assert row.team_return == pytest.approx(sum(row.agent_returns))
    text = table.format()
    assert "heroes" in text and "95% interval" in text


def _illegal(obs: np.ndarray) -> np.ndarray:
    return np.full((len(obs), 3), 99)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: play_team("Nope/Game-v0", [hero_bot()] * 4, 1), ValueError, "unknown multi"),
        (lambda: play_team("Thrust/CartPole-v1", [hero_bot()] * 4, 1), ValueError, "unknown"),
        (lambda: play_team(BUCKET, [hero_bot()] * 3, 1), ValueError, "4 seats; got 3"),
        (lambda: play_team(BUCKET, [hero_bot()] * 3 + [None], 1), TypeError, "seat 3"),
        (lambda: play_team(BUCKET, [hero_bot()] * 4, 0), ValueError, "games must be"),
        (lambda: play_team(BUCKET, [hero_bot()] * 4, 2, n_envs=0), ValueError, "n_envs"),
        (lambda: play_team(BUCKET, [_illegal] * 4, 1), ValueError, "outside MultiDiscrete"),
        (lambda: evaluate_teams(BUCKET, {}, 1), ValueError, "no teams"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
