"""Snake with parameter sharing (``examples/snake_shared.py``) and mixed games
(``thrust_population.mixed``): the evaluation's bookkeeping, a short end-to-end path, and a
slow-marked learning run (``./dev.sh test -m slow``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from torch_threads import one_torch_thread as one_torch_thread

from thrust_envs.multiagent.snake import greedy_bot, random_bot
from thrust_export import NumpyPolicy
from thrust_population.mixed import play_mixed, rotations
from thrust_population.players import fast_policy
from thrust_population.teams import play_team

ROOT = Path(__file__).resolve().parents[1]
GAME = "Thrust/Snake-v0"
SHORT_GAMES = {"max_steps": 200}  # short games keep the default suite's evaluations quick


def _load_example() -> ModuleType:
    path = ROOT / "examples" / "snake_shared.py"
    spec = importlib.util.spec_from_file_location("_thrust_snake_shared", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _load_example()


def test_rotations_are_the_distinct_cyclic_shifts() -> None:
    assert rotations(["a", "b", "a", "b"]) == [["a", "b", "a", "b"], ["b", "a", "b", "a"]]
    assert rotations(["a", "a", "b"]) == [["a", "a", "b"], ["a", "b", "a"], ["b", "a", "a"]]
    assert rotations(["a"] * 4) == [["a"] * 4]


def test_play_mixed_pools_each_players_seats_over_the_rotations() -> None:
    lineup = ["greedy", "random", "greedy", "random"]
    players = {"greedy": greedy_bot(0), "random": random_bot(1)}
    mixed = play_mixed(GAME, players, lineup, 6, seed=3, **SHORT_GAMES)
    # the same games seat by seat: rotation 0 is the lineup, rotation 1 swaps the players
    first = play_team(GAME, [greedy_bot(0), random_bot(1)] * 2, 6, seed=3, **SHORT_GAMES)
    # the bots draw from one generator each across both rotations in play_mixed, so only
    # rotation 0 (played first, with fresh generators) matches fresh bots exactly
    assert mixed["greedy"].shape == mixed["random"].shape == (2 * 6 * 2,)
    np.testing.assert_array_equal(mixed["greedy"][:12], first[:, [0, 2]].reshape(-1))
    np.testing.assert_array_equal(mixed["random"][:12], first[:, [1, 3]].reshape(-1))


def test_play_mixed_rejects_bad_lineups() -> None:
    players = {"greedy": greedy_bot(0), "random": random_bot(1)}
    with pytest.raises(ValueError, match="unknown players"):
        play_mixed(GAME, players, ["greedy", "random", "greedy", "tracker"], 2)
    with pytest.raises(ValueError, match="no seat"):
        play_mixed(GAME, players, ["greedy"] * 4, 2)
    with pytest.raises(ValueError, match="4 seats"):
        play_mixed(GAME, players, ["greedy", "random"], 2)
    with pytest.raises(ValueError, match="games must be a positive int"):
        play_mixed(GAME, players, ["greedy", "random"] * 2, 0)


def test_outcome_reads_food_and_deaths_back(example: ModuleType) -> None:
    # food 3 (survived), 3 (died), 0 (died), 0 (survived)
    result = example.outcome(np.array([3.0, 2.5, -0.5, 0.0]), start_length=3)
    assert result.food == pytest.approx(1.5)
    assert result.deaths == pytest.approx(0.5)
    assert result.length_at_death == pytest.approx((6 + 3) / 2)
    assert result.episodes == 4
    assert np.isnan(example.outcome(np.array([2.0, 0.0])).length_at_death)
    with pytest.raises(ValueError, match="OUTCOME_REWARDS"):
        example.outcome(np.array([0.25]))


def test_outcome_rewards_count_food_and_deaths_exactly(example: ModuleType) -> None:
    """The same seeded games under the game's own rewards (food +1, death -1) and under
    OUTCOME_REWARDS: play is identical, so the two returns give food and deaths by elimination,
    and they must equal what ``outcome`` reads from the OUTCOME_REWARDS returns alone."""
    lineup = [greedy_bot(5), random_bot(6)] * 2
    kwargs = example.GAME_KWARGS | SHORT_GAMES
    default = play_team(GAME, lineup, 8, seed=1, **kwargs)
    lineup = [greedy_bot(5), random_bot(6)] * 2
    counted = play_team(GAME, lineup, 8, seed=1, **(kwargs | example.OUTCOME_REWARDS))
    died = 2.0 * (counted - default)  # r_default = food - died, r_counted = food - died / 2
    food = counted + died / 2.0
    assert set(np.unique(died)) <= {0.0, 1.0} and died.any() and not died.all()
    result = example.outcome(counted.reshape(-1), kwargs["start_length"])
    assert result.food == pytest.approx(food.mean())
    assert result.deaths == pytest.approx(died.mean())
    assert result.length_at_death == pytest.approx(
        (kwargs["start_length"] + food[died == 1]).mean()
    )


def test_greedy_eats_more_than_random_in_mixed_games(example: ModuleType) -> None:
    greedy, rand = example.play_pair("greedy", "random", example.bots(0), 8, 0, SHORT_GAMES)
    assert greedy.episodes == rand.episodes == 2 * 8 * 2
    assert greedy.food > rand.food + 2.0
    assert greedy.deaths < rand.deaths
    assert greedy.length_at_death > rand.length_at_death


def test_short_training_run_end_to_end(example: ModuleType) -> None:
    model, run = example.train(
        timesteps=4096,
        checkpoints=2,
        games=16,
        seed=0,
        eval_games=2,
        verbose=False,
        ppo_kwargs={"batch_size": 1024},
        game_kwargs=SHORT_GAMES,
    )
    rollout = 16 * 4 * example.PPO_KWARGS["n_steps"]
    assert run.rows == 64 and run.steps == model.num_timesteps == 2 * rollout
    assert [c.steps for c in run.checkpoints] == [0, rollout, 2 * rollout]
    assert run.rollout_s > 0 and run.update_s > 0
    assert run.rollout_s + run.update_s <= run.train_s
    for c in run.checkpoints:
        assert set(c.results) == {"greedy", "random"}
        for learned, bot in c.results.values():
            assert learned.episodes == bot.episodes == 2 * 2 * 2
            assert 0.0 <= learned.deaths <= 1.0 and learned.food >= 0.0
    # the evaluated policy went through thrust_export (pure numpy), not SB3's predict
    assert isinstance(fast_policy(model), NumpyPolicy)
    tables = example.format_tables(run)
    assert tables.count("\n| 0 | 0 |") == 1 and f"| {2 * rollout:,} |" in tables
    assert "| 16 | 64 | 1 | 1 |" in tables


def test_example_rejects_bad_arguments(example: ModuleType) -> None:
    with pytest.raises(SystemExit) as raised:
        example.main(["--games", "0"])
    assert raised.value.code == 2


@pytest.mark.slow
def test_learned_snakes_beat_random_in_mixed_games(example: ModuleType) -> None:
    _, run = example.train(
        timesteps=1_000_000, checkpoints=1, games=256, seed=0, eval_games=64, verbose=False
    )
    learned, rand = run.checkpoints[-1].results["random"]
    untrained = run.checkpoints[0].results["random"][0]
    assert learned.food > 3.0 * max(rand.food, 0.1) and learned.food > rand.food + 1.0
    assert learned.food > untrained.food + 1.0
