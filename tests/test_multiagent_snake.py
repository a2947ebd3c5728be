"""Thrust/Snake-v0: PettingZoo's own tests, collisions and growth on constructed boards, board
invariants under play (up to 64 snakes), the SB3 / vs-opponent / SuperSuit views, bots, bad
input, determinism and rendering."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from thrust_envs import GameError, InvalidAction, ParamError
from thrust_envs.core.games import BatchGame
from thrust_envs.multiagent import snake_v0
from thrust_envs.multiagent.snake import (
    ALIVE,
    CHANNELS,
    DEFINITION,
    DOWN,
    FOOD_CH,
    FOOD_COUNT,
    HEAD,
    HEADING,
    LEFT,
    LENGTH,
    LIVE_COUNT,
    OTHER_CH,
    OTHER_HEAD_CH,
    OWN_CH,
    RIGHT,
    TAIL,
    UP,
    WALL_CH,
    SnakeParams,
    food_count,
    greedy_bot,
    grid_base,
    grid_side,
    random_bot,
    snake_base,
    state_size,
)
from thrust_envs.sb3 import make_shared_vec_env, make_vs_opponent

STEP = {UP: (0, -1), RIGHT: (1, 0), DOWN: (0, 1), LEFT: (-1, 0)}
DIRECTION = {v: k for k, v in STEP.items()}


# ------------------------------------------------------------------------------------------
# Helpers: build a board into a game's state row, and check a row's invariants.
# ------------------------------------------------------------------------------------------


def set_board(env, snakes: dict[int, list[tuple[int, int]]], food=(), headings=None):
    """Put ``env`` (a reset ParallelEnv) in a constructed position: ``snakes`` maps a snake
    index to its cells ``(x, y)``, head first; snakes not listed are dead. A snake's heading is
    the direction from its neck to its head (or ``headings[s]``)."""
    game, p = env._game, env.params
    side, grid = grid_side.py_func(p), grid_base.py_func(p)
    row = np.zeros(state_size(p))
    for s, cells in snakes.items():
        if headings and s in headings:
            heading = headings[s]
        else:
            (hx, hy), (nx, ny) = cells[0], cells[1]
            heading = DIRECTION[(hx - nx, hy - ny)]
        body = cells[::-1]  # tail first
        for i, (x, y) in enumerate(body):
            if i + 1 < len(body):
                d = DIRECTION[(body[i + 1][0] - x, body[i + 1][1] - y)]
            else:
                d = heading
            row[grid + y * side + x] = 2 + 4 * s + d
        b = snake_base.py_func(s)
        row[b + HEAD] = cells[0][1] * side + cells[0][0]
        row[b + TAIL] = cells[-1][1] * side + cells[-1][0]
        row[b + LENGTH] = len(cells)
        row[b + HEADING] = heading
        row[b + ALIVE] = 1.0
    for x, y in food:
        row[grid + y * side + x] = 1.0
    row[FOOD_COUNT] = len(food)
    row[LIVE_COUNT] = len(snakes)
    game.state[0] = row
    game.alive[0] = [s in snakes for s in range(p.num_snakes)]
    game.length[0] = 0
    game.agent_return[0] = 0.0
    env.agents = [a for i, a in enumerate(env.possible_agents) if i in snakes]


def cell(env, x, y) -> float:
    p = env.params
    return env.state()[grid_base.py_func(p) + y * grid_side.py_func(p) + x]


def check_board(row: np.ndarray, p: SnakeParams, alive: np.ndarray | None = None) -> None:
    """Every invariant of a state row: each live snake is a connected path of its length from
    its tail to its head, every body cell belongs to a live snake's path, the counters match."""
    side, grid = grid_side.py_func(p), grid_base.py_func(p)
    cells = row[grid : grid + side * side]
    assert np.all((cells == 0) | (cells == 1) | (cells >= 2)), "stray claim markers"
    owners = np.where(cells >= 2, (cells.astype(np.int64) - 2) // 4, -1)
    live = 0
    for s in range(p.num_snakes):
        b = snake_base.py_func(s)
        if row[b + ALIVE] != 1.0:
            assert not np.any(owners == s), f"dead snake {s} left cells on the grid"
            continue
        live += 1
        length = int(row[b + LENGTH])
        c = int(row[b + TAIL])
        path = [c]
        for _ in range(length - 1):
            assert owners[c] == s, f"snake {s}: cell {c} on its path belongs to {owners[c]}"
            dx, dy = STEP[(int(cells[c]) - 2) % 4]
            x, y = c % side + dx, c // side + dy
            assert 0 <= x < side and 0 <= y < side, f"snake {s} leaves the grid"
            c = y * side + x
            path.append(c)
        assert c == int(row[b + HEAD]), f"snake {s}: its path does not end at its head"
        assert owners[c] == s and (int(cells[c]) - 2) % 4 == row[b + HEADING]
        assert len(set(path)) == length, f"snake {s} overlaps itself"
        assert np.count_nonzero(owners == s) == length, f"snake {s} has stray cells"
    assert row[LIVE_COUNT] == live
    if alive is not None:
        assert alive.tolist() == [
            row[snake_base.py_func(s) + ALIVE] == 1.0 for s in range(len(alive))
        ]
    food = int(np.count_nonzero(cells == 1))
    assert row[FOOD_COUNT] == food
    assert food == food_count.py_func(p) or np.count_nonzero(cells == 0) == 0


def play(env, policy, seed, steps=10_000):
    """Play a game of ``env`` with ``policy`` (obs batch -> actions), checking the board
    after every step."""
    obs = env.reset(seed=seed)[0]
    for _ in range(steps):
        if not env.agents:
            break
        batch = np.stack([obs[a] for a in env.agents])
        actions = {a: int(x) for a, x in zip(env.agents, policy(batch), strict=True)}
        obs = env.step(actions)[0]
        check_board(env.state(), env.params, env._game.alive[0])
        if env.agents:  # the live agents are the live snakes
            alive = env._game.alive[0]
            assert env.agents == [a for a, x in zip(env.possible_agents, alive, strict=True) if x]
    return env


# ------------------------------------------------------------------------------------------
# PettingZoo
# ------------------------------------------------------------------------------------------


def test_pettingzoo_parallel_api():
    parallel_api_test(snake_v0.parallel_env(), num_cycles=1000)


def test_pettingzoo_parallel_api_with_many_snakes():
    parallel_api_test(snake_v0.parallel_env(num_snakes=16, max_steps=200), num_cycles=300)


def test_pettingzoo_parallel_seed():
    parallel_seed_test(snake_v0.parallel_env, num_cycles=300)


def test_pettingzoo_aec_api():
    api_test(snake_v0.env(), num_cycles=300)


def test_spaces_and_defaults():
    env = snake_v0.parallel_env()
    p = env.params
    assert env.possible_agents == [f"player_{i}" for i in range(4)]
    assert grid_side.py_func(p) == 12 and food_count.py_func(p) == 4
    assert grid_side.py_func(SnakeParams(num_snakes=64)) == 48
    space = env.observation_space("player_0")
    assert space.shape == (CHANNELS * 7 * 7,) and space.dtype == np.float32
    assert env.action_space("player_0").n == 4
    obs, _ = env.reset(seed=0)
    for o in obs.values():
        assert space.contains(o)
    check_board(env.state(), p)


# ------------------------------------------------------------------------------------------
# Rules on constructed boards
# ------------------------------------------------------------------------------------------


def _env(**kwargs):
    kwargs = {"num_snakes": 4, "grid_size": 8, "num_food": 1, **kwargs}
    env = snake_v0.parallel_env(**kwargs)
    env.reset(seed=0)
    return env


def _far_snakes():
    """Two bystanders in the bottom rows, out of everyone's way (they move right)."""
    return {2: [(2, 6), (1, 6), (0, 6)], 3: [(2, 7), (1, 7), (0, 7)]}


def test_a_snake_moves_one_cell_and_its_tail_follows():
    env = _env()
    set_board(env, {0: [(3, 2), (2, 2), (1, 2)], **_far_snakes()}, food=[(7, 0)])
    _, rewards, terms, _, _ = env.step({a: RIGHT for a in env.agents})
    assert rewards == {a: 0.0 for a in env.possible_agents if a != "player_1"}
    assert not any(terms.values())
    assert cell(env, 4, 2) == 2 + 1 and cell(env, 1, 2) == 0.0  # new head; old tail vacated
    check_board(env.state(), env.params)


def test_wall_kills_and_the_body_leaves_the_grid():
    env = _env()
    set_board(env, {0: [(0, 2), (1, 2), (2, 2)], 1: [(5, 2), (4, 2), (3, 2)], **_far_snakes()})
    _, rewards, terms, _, _ = env.step(
        {"player_0": LEFT, "player_1": RIGHT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert rewards["player_0"] == -1.0 and terms["player_0"]
    assert not terms["player_1"] and rewards["player_1"] == 0.0
    assert "player_0" not in env.agents and len(env.agents) == 3
    assert all(cell(env, x, 2) == 0.0 for x in range(3))
    check_board(env.state(), env.params, env._game.alive[0])


def test_self_collision_kills():
    env = _env()
    # A hook: the head at (2, 2) heading down, turning left into its own body at (1, 2).
    body = [(2, 2), (2, 1), (1, 1), (0, 1), (0, 2), (1, 2), (1, 3)]
    set_board(env, {0: body, **_far_snakes()})
    _, rewards, terms, _, _ = env.step({"player_0": LEFT, "player_2": RIGHT, "player_3": RIGHT})
    assert terms["player_0"] and rewards["player_0"] == -1.0
    check_board(env.state(), env.params, env._game.alive[0])


def test_following_ones_own_tail_is_safe():
    env = _env()
    # A 2 x 2 loop: the head's next cell is the tail, which leaves this step.
    set_board(env, {0: [(1, 1), (1, 2), (2, 2), (2, 1)], **_far_snakes()})
    _, rewards, terms, _, _ = env.step({"player_0": RIGHT, "player_2": RIGHT, "player_3": RIGHT})
    assert not terms["player_0"] and rewards["player_0"] == 0.0
    assert env.state()[snake_base.py_func(0) + HEAD] == 1 * 8 + 2
    check_board(env.state(), env.params)


def test_following_a_tail_that_stays_because_its_snake_eats_kills():
    env = _env()
    # Snake 1's tail is at (3, 2), just ahead of snake 0's head; snake 1 eats this step.
    set_board(
        env,
        {0: [(2, 2), (1, 2), (0, 2)], 1: [(3, 0), (3, 1), (3, 2)], **_far_snakes()},
        food=[(4, 0)],
    )
    _, rewards, terms, _, _ = env.step(
        {"player_0": RIGHT, "player_1": RIGHT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert rewards["player_1"] == 1.0 and not terms["player_1"]
    assert terms["player_0"] and rewards["player_0"] == -1.0
    check_board(env.state(), env.params, env._game.alive[0])


def test_following_another_snakes_moving_tail_is_safe():
    env = _env()
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)], 1: [(3, 0), (3, 1), (3, 2)], **_far_snakes()})
    _, rewards, terms, _, _ = env.step(
        {"player_0": RIGHT, "player_1": RIGHT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert not any(terms.values())
    assert cell(env, 3, 2) == 2 + 4 * 0 + RIGHT
    check_board(env.state(), env.params)


def test_running_into_another_snake_kills_only_the_runner():
    env = _env()
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)], 1: [(3, 1), (3, 2), (3, 3)], **_far_snakes()})
    _, rewards, terms, _, _ = env.step(
        {"player_0": RIGHT, "player_1": UP, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert terms["player_0"] and rewards["player_0"] == -1.0
    assert not terms["player_1"] and rewards["player_1"] == 0.0
    assert env.agents == ["player_1", "player_2", "player_3"]
    check_board(env.state(), env.params, env._game.alive[0])


def test_head_to_head_on_the_same_cell_kills_both_and_the_food_there_moves():
    env = _env()
    set_board(
        env,
        {0: [(2, 2), (1, 2), (0, 2)], 1: [(4, 2), (5, 2), (6, 2)], **_far_snakes()},
        food=[(3, 2)],
    )
    _, rewards, terms, _, _ = env.step(
        {"player_0": RIGHT, "player_1": LEFT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert terms["player_0"] and terms["player_1"]
    assert rewards["player_0"] == rewards["player_1"] == -1.0
    assert env.agents == ["player_2", "player_3"]
    assert env.state()[FOOD_COUNT] == 1  # nobody got the food: it was replaced
    check_board(env.state(), env.params, env._game.alive[0])


def test_three_heads_on_one_cell_all_die():
    env = _env(num_snakes=5, grid_size=10)
    set_board(
        env,
        {
            0: [(2, 2), (1, 2), (0, 2)],
            1: [(4, 2), (5, 2), (6, 2)],
            2: [(3, 1), (3, 0)],
            3: [(2, 6), (1, 6), (0, 6)],
            4: [(2, 7), (1, 7), (0, 7)],
        },
    )
    actions = {"player_0": RIGHT, "player_1": LEFT, "player_2": DOWN, "player_3": RIGHT}
    _, rewards, terms, _, _ = env.step({**actions, "player_4": RIGHT})
    assert [terms[f"player_{i}"] for i in range(5)] == [True, True, True, False, False]
    check_board(env.state(), env.params, env._game.alive[0])


def test_swapping_places_head_on_kills_both():
    env = _env()
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)], 1: [(3, 2), (4, 2), (5, 2)], **_far_snakes()})
    _, rewards, terms, _, _ = env.step(
        {"player_0": RIGHT, "player_1": LEFT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert terms["player_0"] and terms["player_1"]
    check_board(env.state(), env.params, env._game.alive[0])


@pytest.mark.parametrize(
    "bodies",
    [
        {0: [(2, 2)], 1: [(3, 2)]},  # each its own tail: their cells empty as they leave
        {0: [(2, 2), (1, 2), (0, 2)], 1: [(3, 2)]},
    ],
)
def test_swapping_places_kills_both_whatever_their_lengths(bodies):
    env = _env(start_length=1)
    set_board(env, {**bodies, **_far_snakes()}, headings={0: RIGHT, 1: LEFT})
    _, rewards, terms, _, _ = env.step(
        {"player_0": RIGHT, "player_1": LEFT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert terms["player_0"] and terms["player_1"]
    assert rewards["player_0"] == rewards["player_1"] == -1.0
    assert not terms["player_2"] and not terms["player_3"]
    check_board(env.state(), env.params, env._game.alive[0])


def test_a_snake_may_follow_a_snake_of_length_one_and_enter_a_swappers_cell():
    env = _env(start_length=1, num_snakes=5)
    # 0 follows 1 (1 leaves the cell 0 enters); 2 and 3 swap, and 4 enters 3's old cell,
    # which 3 (of length 1) vacated: 2 and 3 die, 4 lives there.
    set_board(
        env,
        {0: [(1, 0)], 1: [(2, 0)], 2: [(2, 3)], 3: [(3, 3)], 4: [(3, 4)]},
        headings={0: RIGHT, 1: RIGHT, 2: RIGHT, 3: LEFT, 4: UP},
    )
    actions = {"player_0": RIGHT, "player_1": RIGHT, "player_2": RIGHT, "player_3": LEFT}
    _, _, terms, _, _ = env.step({**actions, "player_4": UP})
    assert [terms[f"player_{i}"] for i in range(5)] == [False, False, True, True, False]
    assert cell(env, 3, 3) == 2 + 4 * 4 + UP and cell(env, 2, 0) == 2 + RIGHT
    check_board(env.state(), env.params, env._game.alive[0])


def test_eating_grows_pays_and_replaces_the_food():
    env = _env()
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)], **_far_snakes()}, food=[(3, 2)])
    _, rewards, _, _, _ = env.step({"player_0": RIGHT, "player_2": RIGHT, "player_3": RIGHT})
    b = snake_base.py_func(0)
    state = env.state()
    assert rewards["player_0"] == 1.0 and rewards["player_2"] == 0.0
    assert state[b + LENGTH] == 4 and state[b + TAIL] == 2 * 8 + 0  # the tail stayed
    assert state[FOOD_COUNT] == 1 and cell(env, 3, 2) == 2 + RIGHT
    check_board(state, env.params)
    env.step({"player_0": RIGHT, "player_2": RIGHT, "player_3": RIGHT})
    assert env.state()[b + TAIL] == 2 * 8 + 1  # and moves again once it no longer eats


def test_turning_back_is_ignored():
    env = _env()
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)], **_far_snakes()})
    _, _, terms, _, _ = env.step({"player_0": LEFT, "player_2": RIGHT, "player_3": RIGHT})
    assert not terms["player_0"]
    assert env.state()[snake_base.py_func(0) + HEAD] == 2 * 8 + 3  # it went straight on
    assert env.state()[snake_base.py_func(0) + HEADING] == RIGHT


def test_a_snake_of_length_one_may_reverse():
    env = _env(start_length=1)
    set_board(env, {0: [(2, 2)], 1: [(5, 5)], **_far_snakes()}, headings={0: RIGHT, 1: UP})
    env.step({"player_0": LEFT, "player_1": UP, "player_2": RIGHT, "player_3": RIGHT})
    assert env.state()[snake_base.py_func(0) + HEAD] == 2 * 8 + 1
    check_board(env.state(), env.params)


def test_step_reward_and_custom_rewards():
    env = _env(step_reward=-0.01, food_reward=2.0, death_reward=-5.0)
    set_board(
        env,
        {0: [(2, 2), (1, 2), (0, 2)], 1: [(0, 4), (1, 4), (2, 4)], **_far_snakes()},
        food=[(3, 2)],
    )
    _, rewards, _, _, _ = env.step(
        {"player_0": RIGHT, "player_1": LEFT, "player_2": RIGHT, "player_3": RIGHT}
    )
    assert rewards == pytest.approx(
        {"player_0": 1.99, "player_1": -5.0, "player_2": -0.01, "player_3": -0.01}
    )


def test_the_game_ends_when_one_snake_is_left():
    env = _env(num_snakes=2)
    set_board(env, {0: [(0, 2), (1, 2), (2, 2)], 1: [(5, 5), (4, 5), (3, 5)]})
    _, rewards, terms, truncs, _ = env.step({"player_0": LEFT, "player_1": RIGHT})
    assert terms == {"player_0": True, "player_1": True} and not any(truncs.values())
    assert rewards == {"player_0": -1.0, "player_1": 0.0}
    assert env.agents == []
    with pytest.raises(GameError, match="over"):
        env.step({"player_1": RIGHT})


def test_a_single_snake_plays_until_it_dies():
    env = _env(num_snakes=1)
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)]})
    for _ in range(3, 8):
        _, _, terms, _, _ = env.step({"player_0": RIGHT})
        assert not terms["player_0"]
    _, rewards, terms, _, _ = env.step({"player_0": RIGHT})
    assert terms["player_0"] and rewards["player_0"] == -1.0 and env.agents == []


def test_truncation_at_max_steps():
    env = _env(max_steps=3)
    set_board(env, {0: [(2, 2), (1, 2), (0, 2)], 1: [(2, 4), (1, 4), (0, 4)], **_far_snakes()})
    for _ in range(2):
        env.step({a: RIGHT for a in env.agents})
    _, _, terms, truncs, _ = env.step({a: RIGHT for a in env.agents})
    assert all(truncs.values()) and not any(terms.values()) and env.agents == []


def test_observation_window():
    env = _env(vision_radius=2)
    set_board(
        env,
        {0: [(1, 2), (1, 3), (2, 3)], 1: [(3, 1), (4, 1), (5, 1)], **_far_snakes()},
        food=[(0, 1)],
    )
    obs, _, _, _, _ = env.step(
        {"player_0": UP, "player_1": LEFT, "player_2": RIGHT, "player_3": RIGHT}
    )
    # Snake 0's head moved to (1, 1); snake 1's head to (2, 1); food at (0, 1).
    planes = obs["player_0"].reshape(CHANNELS, 5, 5)  # [channel, row = 2 + dy, col = 2 + dx]
    assert planes[WALL_CH, :, 0].all() and planes[WALL_CH, 0, :].all()  # x = -1 and y = -1
    assert not planes[WALL_CH, 1:, 1:].any()
    assert planes[OWN_CH, 2, 2] == 1 and planes[OWN_CH, 3, 2] == 1 and planes[OWN_CH].sum() == 3
    assert planes[OTHER_CH, 2, 3] == 1 and planes[OTHER_HEAD_CH, 2, 3] == 1
    assert planes[OTHER_CH, 2, 4] == 1 and planes[OTHER_HEAD_CH].sum() == 1
    assert planes[FOOD_CH, 2, 1] == 1 and planes[FOOD_CH].sum() >= 1
    other = obs["player_1"].reshape(CHANNELS, 5, 5)
    assert other[OTHER_HEAD_CH, 2, 1] == 1 and other[OWN_CH, 2, 2] == 1


# ------------------------------------------------------------------------------------------
# Play: invariants, many snakes, determinism
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bot", [random_bot(0), greedy_bot(0)], ids=["random", "greedy"])
def test_board_invariants_hold_during_play(bot):
    for seed in range(3):
        play(snake_v0.parallel_env(num_snakes=6, max_steps=300), bot, seed)


def test_64_snakes_in_one_game():
    env = snake_v0.parallel_env(num_snakes=64, max_steps=400)
    obs, _ = env.reset(seed=0)
    assert len(obs) == 64 and grid_side.py_func(env.params) == 48
    check_board(env.state(), env.params)
    seen_removal = False
    bot = greedy_bot(1)
    steps = 0
    while env.agents:
        before = list(env.agents)
        batch = np.stack([obs[a] for a in before])
        obs, rewards, terms, truncs, _ = env.step(
            {a: int(x) for a, x in zip(before, bot(batch), strict=True)}
        )
        steps += 1
        assert set(rewards) == set(before)
        dead = [a for a in before if terms[a]]
        if env.agents:
            assert env.agents == [a for a in before if a not in dead]
            seen_removal |= bool(dead)
        check_board(env.state(), env.params, env._game.alive[0])
    assert seen_removal and steps > 5


@pytest.mark.parametrize(
    ("snakes", "side", "length"), [(4, 8, 3), (4, 6, 2), (4, 4, 1), (144, 48, 3)]
)
def test_crowded_boards_always_reset(snakes, side, length):
    # At the density limit check_params allows, where random placement often fails and the
    # fallback scan places the last snakes.
    p = SnakeParams(num_snakes=snakes, grid_size=side, start_length=length)
    games = 20 if snakes > 4 else 300
    game = BatchGame(DEFINITION, games, p, autoreset=False, num_threads=1)
    game.seed(0)
    game.reset()
    grid = grid_base.py_func(p)
    for g in range(games):
        check_board(game.state[g], p)
        for s in range(snakes):  # the cell ahead of each head is inside and free
            b = snake_base.py_func(s)
            head, d = int(game.state[g, b + HEAD]), int(game.state[g, b + HEADING])
            x, y = head % side + STEP[d][0], head // side + STEP[d][1]
            assert 0 <= x < side and 0 <= y < side
            assert game.state[g, grid + y * side + x] in (0.0, 1.0)  # empty or food
    with pytest.raises(ParamError, match="no guaranteed room"):
        snake_v0.parallel_env(num_snakes=snakes + 1, grid_size=side, start_length=length)


def test_same_seed_same_game_and_different_seeds_differ():
    def run(seed):
        env = snake_v0.parallel_env(num_snakes=6)
        obs, _ = env.reset(seed=seed)
        bot = greedy_bot(3)
        states = [env.state()]
        while env.agents:
            batch = np.stack([obs[a] for a in env.agents])
            obs, *_ = env.step({a: int(x) for a, x in zip(env.agents, bot(batch), strict=True)})
            states.append(env.state())
        return states

    a, b = run(5), run(5)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(run(6)[0], a[0])


def test_same_seed_same_games_whatever_the_thread_count(monkeypatch):
    from thrust_envs.core import games

    monkeypatch.setattr(games, "PARALLEL_MIN_GAMES", 1)

    def run(threads):
        venv = make_shared_vec_env(DEFINITION, 64, seed=2, num_threads=threads)
        obs = [venv.reset()]
        rng = np.random.default_rng(0)
        for _ in range(100):
            obs.append(venv.step(rng.integers(0, 4, venv.num_envs))[0])
        return np.stack(obs)

    np.testing.assert_array_equal(run(1), run(2))


# ------------------------------------------------------------------------------------------
# Views: SB3 shared, vs-opponent, SuperSuit
# ------------------------------------------------------------------------------------------


def test_shared_sb3_vec_env_black_death_rows():
    venv = make_shared_vec_env(DEFINITION, 4, seed=0)
    assert venv.num_envs == 16
    obs = venv.reset()
    assert obs.shape == (16, CHANNELS * 49) and obs.dtype == np.float32
    rng = np.random.default_rng(0)
    game = venv._game
    dead_rows_seen = episodes = 0
    for _ in range(300):
        was_dead = ~game.alive.reshape(-1).copy()
        obs, rewards, dones, infos = venv.step(rng.integers(0, 4, 16))
        ended = np.repeat(game.game_over, 4)
        padding = was_dead & ~ended  # dead before this step, game still running
        dead_rows_seen += int(padding.sum())
        assert not obs[padding].any() and not rewards[padding].any() and not dones[padding].any()
        for i in np.flatnonzero(dones):
            episodes += 1
            info = infos[i]
            assert info["terminal_observation"].shape == (CHANNELS * 49,)
            assert info["episode"]["l"] >= 1
            if not ended[i]:  # died before its game ended: it was paid death_reward
                assert rewards[i] == -1.0
    assert dead_rows_seen > 0 and episodes > 16


def test_shared_sb3_vec_env_trains_with_ppo():
    from stable_baselines3 import PPO

    venv = make_shared_vec_env(DEFINITION, 4, seed=0)
    PPO("MlpPolicy", venv, n_steps=16, batch_size=64, n_epochs=1, device="cpu", seed=0).learn(256)


def _mean_return(venv, policy, episodes):
    obs = venv.reset()
    results = []
    while len(results) < episodes:
        obs, _, dones, infos = venv.step(policy(obs))
        results += [infos[i]["episode"]["r"] for i in np.flatnonzero(dones)]
    return float(np.mean(results))


def test_vs_opponent_and_the_greedy_bot_beats_random():
    greedy = _mean_return(
        make_vs_opponent(DEFINITION, random_bot(0), 32, seed=0), greedy_bot(1), 64
    )
    rand = _mean_return(make_vs_opponent(DEFINITION, random_bot(0), 32, seed=0), random_bot(1), 64)
    assert greedy > rand + 0.5


def test_vs_opponent_episode_ends_when_the_learner_dies():
    venv = make_vs_opponent(DEFINITION, greedy_bot(0), 8, seat=0, seed=0)
    venv.reset()
    for _ in range(200):
        _, rewards, dones, infos = venv.step(np.full(8, LEFT, dtype=np.int64))
        for i in np.flatnonzero(dones):
            assert infos[i]["seat"] == 0 and "terminal_observation" in infos[i]
        if dones.any():
            break
    assert dones.any()


class _BlackDeath:
    """SuperSuit's ``black_death_v3`` (3.11) never ends an episode (it ANDs terminations and
    truncations; fixed upstream in SuperSuit PR #265); this is that wrapper with the fix."""

    @staticmethod
    def wrap(env):
        from supersuit.multiagent_wrappers.black_death import black_death_par

        class Fixed(black_death_par):
            def step(self, actions):
                obs, rewards, terms, truncs, infos = self.env.step(
                    {agent: actions[agent] for agent in self.env.agents}
                )
                for agent in self.agents:
                    if agent not in obs:
                        obs[agent] = np.zeros_like(self.observation_space(agent).low)
                        rewards[agent], infos[agent] = 0.0, {}
                done = all(terms[a] or truncs[a] for a in terms)
                dones = dict.fromkeys(self.agents, done)
                if done:
                    self.agents.clear()
                return obs, rewards, dones, dict(dones), infos

        return Fixed(env)


def test_supersuit_pipeline_works():
    import supersuit as ss

    env = _BlackDeath.wrap(snake_v0.parallel_env())
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, 2, num_cpus=0, base_class="stable_baselines3")
    obs = venv.reset()
    assert obs.shape == (8, CHANNELS * 49)
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(200):
        obs, rewards, dones, _ = venv.step(rng.integers(0, 4, 8))
        assert obs.shape == (8, CHANNELS * 49) and rewards.shape == (8,)
        resets += int(dones.sum())
    assert resets >= 8  # games ended and restarted


# ------------------------------------------------------------------------------------------
# Bots
# ------------------------------------------------------------------------------------------


def test_greedy_bot_avoids_immediate_death_and_seeks_food():
    r, width = 3, 7
    obs = np.zeros((3, CHANNELS, width, width), dtype=np.float32)
    # 0: walls up and left, own neck below: only RIGHT is safe.
    obs[0, WALL_CH, 2, :] = 1
    obs[0, WALL_CH, :, 2] = 1
    obs[0, OWN_CH, r, r] = obs[0, OWN_CH, r + 1, r] = 1
    # 1: food two cells left, nothing in the way.
    obs[1, OWN_CH, r, r] = obs[1, OWN_CH, r, r + 1] = 1
    obs[1, FOOD_CH, r, r - 2] = 1
    # 2: food up, but another snake's head next to the cell above: go elsewhere.
    obs[2, OWN_CH, r, r] = obs[2, OWN_CH, r + 1, r] = 1
    obs[2, FOOD_CH, r - 1, r] = 1
    obs[2, OTHER_CH, r - 1, r + 1] = obs[2, OTHER_HEAD_CH, r - 1, r + 1] = 1
    bot = greedy_bot(0)
    for _ in range(20):
        actions = bot(obs.reshape(3, -1))
        assert actions[0] == RIGHT and actions[1] == LEFT and actions[2] in (LEFT, RIGHT)


def test_bots_validate_input_and_are_seeded():
    with pytest.raises(ValueError, match="greedy_bot: expected Snake observations"):
        greedy_bot()(np.zeros((2, 10), dtype=np.float32))
    assert np.array_equal(random_bot(4)(np.zeros((50, 1))), random_bot(4)(np.zeros((50, 1))))
    assert set(DEFINITION.bots) == {"random", "greedy"}


# ------------------------------------------------------------------------------------------
# Bad input and parameters
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (
            {"player_0": 4, "player_1": 0, "player_2": 0, "player_3": 0},
            "action 4 of agent 'player_0'.*outside",
        ),
        (
            {"player_0": 0, "player_1": -1, "player_2": 0, "player_3": 0},
            "agent 'player_1'.*outside",
        ),
        ({"player_0": 0, "player_1": 0, "player_2": 0}, r"missing actions.*player_3"),
        (
            {"player_0": 0, "player_1": 0, "player_2": 0, "player_3": 0, "snake": 1},
            "unknown agent 'snake'",
        ),
        ({"player_0": 1.0, "player_1": 0, "player_2": 0, "player_3": 0}, "player_0.*integer"),
        ({"player_0": [1], "player_1": 0, "player_2": 0, "player_3": 0}, "player_0.*integer"),
    ],
)
def test_bad_actions_leave_the_game_unchanged(actions, match):
    env = snake_v0.parallel_env()
    env.reset(seed=0)
    before, agents = env.state(), list(env.agents)
    with pytest.raises(InvalidAction, match=match):
        env.step(actions)
    np.testing.assert_array_equal(env.state(), before)
    assert env.agents == agents


def test_actions_for_dead_agents_are_rejected():
    env = _env()
    set_board(env, {0: [(0, 2), (1, 2), (2, 2)], 1: [(5, 2), (4, 2), (3, 2)], **_far_snakes()})
    env.step({"player_0": LEFT, "player_1": RIGHT, "player_2": RIGHT, "player_3": RIGHT})
    before = env.state()
    with pytest.raises(InvalidAction, match="agent 'player_0' is no longer in the game"):
        env.step({"player_0": UP, "player_1": UP, "player_2": UP, "player_3": UP})
    np.testing.assert_array_equal(env.state(), before)


def test_stepping_before_reset_or_after_the_end_is_an_error():
    env = snake_v0.parallel_env(max_steps=1)
    with pytest.raises(GameError, match="reset"):
        env.step({a: 0 for a in env.possible_agents})
    env.reset(seed=0)
    env.step({a: 0 for a in env.agents})
    before = env.state()
    with pytest.raises(GameError, match="over"):
        env.step({a: 0 for a in env.possible_agents})
    np.testing.assert_array_equal(env.state(), before)


def test_vector_views_reject_bad_actions_without_stepping():
    venv = make_shared_vec_env(DEFINITION, 2, seed=0)
    venv.reset()
    before = venv._game.state.copy()
    with pytest.raises(InvalidAction, match="agent 'player_2' in game 1 is outside"):
        venv.step(np.array([0, 0, 0, 0, 0, 0, 7, 0]))
    np.testing.assert_array_equal(venv._game.state, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_snakes": 0}, r"'num_snakes' must be in \[1, 256\], got 0"),
        ({"grid_size": 3}, "grid_size must be 0"),
        ({"grid_size": 6, "num_snakes": 8}, "no guaranteed room for 8 snakes"),
        ({"start_length": 0}, r"'start_length' must be in \[1, 1024\], got 0"),
        ({"num_food": -1}, r"'num_food' must be in \[0, 1048576\], got -1"),
        ({"num_food": 200, "grid_size": 12}, "do not fit"),
        ({"vision_radius": 0}, "vision_radius"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ParamError, match=f"Snake: .*{match}"):
        snake_v0.parallel_env(**kwargs)


def test_wrongly_typed_parameters_are_rejected():
    with pytest.raises(TypeError, match="'num_snakes' must be an int"):
        snake_v0.parallel_env(num_snakes=2.5)
    with pytest.raises(TypeError, match="unknown keyword"):
        snake_v0.parallel_env(snakes=3)


# ------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------


def test_render_rgb_array():
    env = snake_v0.parallel_env(render_mode="rgb_array", grid_size=8, num_food=1)
    env.reset(seed=0)
    set_board(
        env,
        {0: [(2, 2), (1, 2), (0, 2)], 1: [(5, 6), (5, 5)], 2: [(7, 7)], 3: [(0, 7)]},
        food=[(6, 1)],
        headings={2: UP, 3: UP},
    )
    frame = env.render()
    scale = 240 // 8
    assert frame.shape == (10 * scale, 10 * scale, 3) and frame.dtype == np.uint8

    def pixel(x, y):  # the centre of grid cell (x, y); +1 for the wall frame
        return tuple(frame[(y + 1) * scale + scale // 2, (x + 1) * scale + scale // 2])

    assert pixel(6, 1) == (230, 60, 60)  # food
    assert pixel(1, 2) == pixel(0, 2) != pixel(2, 2)  # body, and a lighter head
    assert pixel(1, 2) != pixel(5, 6)  # snakes differ in colour
    assert pixel(4, 4) == (20, 20, 30) and tuple(frame[0, 0]) == (70, 70, 80)
    assert snake_v0.parallel_env().render() is None


def test_food_lands_uniformly_on_a_nearly_full_board():
    """Food goes to an empty cell drawn uniformly, also when the few draws over the whole
    grid miss (a board with 2 empty cells of 16): a scan from a random start put it on the
    cell after the longer occupied run three times in four."""
    from thrust_envs.core.definition import make_params
    from thrust_envs.core.rng import seed_rows
    from thrust_envs.multiagent import snake

    params = make_params(
        snake.DEFINITION, "Thrust/Snake-v0",
        {"num_snakes": 1, "grid_size": 4, "start_length": 1, "num_food": 1},
    )  # fmt: skip
    grid, cells, rows = snake.grid_base.py_func(params), 16, 20000
    state = np.zeros((rows, snake.state_size(params)))
    state[:, grid : grid + cells] = 2.0  # a snake's body everywhere but cells 5 and 6
    state[:, grid + 5] = state[:, grid + 6] = 0.0
    rng = np.zeros(rows, np.uint64)
    seed_rows(rng, np.arange(rows), np.arange(rows, dtype=np.uint64))
    for g in range(rows):
        assert snake._place_food(state, g, rng, grid, cells)
    on_five = (state[:, grid + 5] == 1.0).mean()
    assert ((state[:, grid + 5] == 1.0) != (state[:, grid + 6] == 1.0)).all()
    assert abs(on_five - 0.5) < 5 * np.sqrt(0.25 / rows), on_five
