"""Snake: ``N`` snakes on a square grid with food, moving simultaneously.

Design choices:

- **Grid.** A square of ``grid_size`` cells a side, surrounded by walls; ``grid_size=0``
  (default) scales it with the number of snakes: ``max(8, ceil(6 * sqrt(num_snakes)))``, so
  12 x 12 for the default 4 snakes and 48 x 48 for 64. Cell ``(x, y)``: ``x`` grows to the
  right, ``y`` downwards (row 0 is the top row of the rendered image).
- **Actions** (``Discrete(4)``, absolute, not relative to the heading): 0 up (``y - 1``),
  1 right (``x + 1``), 2 down (``y + 1``), 3 left (``x - 1``). Turning back onto one's own
  neck is impossible: for a snake of length >= 2 the action opposite to its heading is ignored
  and it goes straight on.
- **Start.** Each snake starts as a straight line of ``start_length`` cells at a random place
  and heading (from the game's random stream), with the cell in front of its head inside the
  walls and free (of snakes; food may lie there). ``check_params`` only accepts sizes for
  which such a placement always exists, so a reset never fails.
- **Moves and collisions.** All live snakes move one cell at once. First, the tail of every
  snake whose head does not move onto food leaves its cell (so a snake may follow its own or
  another snake's tail). Then a snake dies if its new head is outside the grid (wall), on a
  cell still occupied by any snake's body, its own included (self or other: this includes
  another snake's current head, so two snakes swapping places both die, whatever their
  lengths: a snake of length 1 leaves its cell, but the two would pass through each other),
  or on the same cell as another snake's new head (head-to-head: all the snakes involved die;
  a snake dying otherwise never reaches its new cell, so it meets nobody's head there). The
  snakes that die in a step are judged against the same board: a dying snake's body still
  blocks the others that step. A dead snake's body is then removed from the grid.
- **Food.** ``num_food`` items (``0``: one per snake) lie on empty cells. A snake whose head
  reaches food grows by one (its tail stays put that step). Eaten food, and food under a
  head-to-head collision, is replaced at once at an empty cell drawn uniformly from the game's
  random stream (none if the grid is full).
- **Rewards.** A snake that eats gets ``food_reward`` (+1); a snake that dies gets
  ``death_reward`` (-1) and nothing else that step; every surviving snake also gets
  ``step_reward`` (0) each step.
- **Game end.** With one snake, when it dies; with several, when at most one is left alive
  (every remaining snake is then terminated too). Truncated after ``max_steps`` steps.
- **Observation** (float32 ``Box(0, 1)``, flat): an egocentric window of
  ``(2 r + 1) x (2 r + 1)`` cells centred on the snake's head (``r = vision_radius``, default
  3), not rotated (up is up), with ``CHANNELS = 5`` binary planes, channel-major (index
  ``c * (2r+1)**2 + row * (2r+1) + col``, row ``r + dy``, column ``r + dx``): 0 wall (outside
  the grid), 1 the snake itself (its head is the centre), 2 other snakes' bodies (their heads
  included), 3 other snakes' heads, 4 food. A dead snake's final observation is centred where
  its head was, without its own body.
- **Dead snakes** leave the game as PettingZoo requires (``agents`` shrinks); in the SB3
  shared view their rows are "black death" rows until their game ends.

State row (float64): ``[food count, live count]``, then ``SNAKE_SIZE`` fields per snake (head
cell, tail cell, length, heading, alive, and two per-step scratch fields), then the grid, one
float per cell ``y * side + x``: 0 empty, 1 food, ``2 + 4 s + d`` a segment of snake ``s``
whose next segment towards the head is in direction ``d`` (the head's ``d`` is its heading).
The body is thus a linked list through the grid: the tail advances by following its cell's
direction, and the state size, ``2 + 7 N + side**2``, is independent of the snakes' lengths.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from numba import njit

from thrust_envs.core.definition import Range, check_ranges, from_module, require
from thrust_envs.core.games import GameDefinition, uniform_random_bot
from thrust_envs.core.rng import next_u64


class SnakeParams(NamedTuple):
    num_snakes: int = 4
    grid_size: int = 0  # cells a side; 0: max(8, ceil(6 * sqrt(num_snakes)))
    start_length: int = 3
    num_food: int = 0  # food items on the grid at all times; 0: one per snake
    vision_radius: int = 3  # the observation window is (2r+1) x (2r+1) cells
    food_reward: float = 1.0
    death_reward: float = -1.0
    step_reward: float = 0.0
    max_steps: int = 1000


UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
EMPTY, FOOD = 0.0, 1.0
RESERVED = -1.0  # during a reset: the cell ahead of a placed snake's head
# Observation channels.
WALL_CH, OWN_CH, OTHER_CH, OTHER_HEAD_CH, FOOD_CH = range(5)
CHANNELS = 5
# State layout: a header, then SNAKE_SIZE fields per snake, then the grid.
FOOD_COUNT, LIVE_COUNT = 0, 1
HEADER_SIZE = 2
HEAD, TAIL, LENGTH, HEADING, ALIVE, NEXT, EATS = range(7)
SNAKE_SIZE = 7
MAX_GRID_SIZE = 1024
PLACEMENT_TRIES = 32
_SHIFT = np.uint64(11)


@njit(cache=True, inline="always")
def grid_side(p):
    """Cells a side of the grid."""
    if p.grid_size > 0:
        return p.grid_size
    # int(): on the CUDA target math.ceil returns a float, and the grid size is an int.
    return max(8, int(math.ceil(6.0 * math.sqrt(p.num_snakes))))  # noqa: RUF046


@njit(cache=True, inline="always")
def food_count(p):
    """How many food items the grid holds (fewer only when it is full)."""
    return p.num_food if p.num_food > 0 else p.num_snakes


@njit(cache=True, inline="always")
def snake_base(s):
    """Index in the state row of snake ``s``'s first field."""
    return HEADER_SIZE + s * SNAKE_SIZE


@njit(cache=True, inline="always")
def grid_base(p):
    """Index in the state row of the grid's first cell."""
    return HEADER_SIZE + p.num_snakes * SNAKE_SIZE


def state_size(p: SnakeParams) -> int:
    side = grid_side.py_func(p)
    return grid_base.py_func(p) + side * side


_REWARD = Range(-1e6, 1e6)
# Valid values; the relations between them (room on the grid) are checked below.
PARAM_RANGES = {
    "num_snakes": Range(1, 256),
    "grid_size": Range(0, MAX_GRID_SIZE),
    "start_length": Range(1, MAX_GRID_SIZE),
    "num_food": Range(0, MAX_GRID_SIZE * MAX_GRID_SIZE),
    "vision_radius": Range(1, 32),
    "food_reward": _REWARD,
    "death_reward": _REWARD,
    "step_reward": _REWARD,
    "max_steps": Range(1, 2**31 - 1),
}


def check_params(p: SnakeParams) -> None:
    name = "Snake"
    check_ranges(name, p, PARAM_RANGES)
    require(p.num_snakes >= 1, name, f"num_snakes must be >= 1, got {p.num_snakes}")
    require(
        p.grid_size == 0 or 4 <= p.grid_size <= MAX_GRID_SIZE,
        name,
        f"grid_size must be 0 (scaled with num_snakes) or in [4, {MAX_GRID_SIZE}], "
        f"got {p.grid_size}",
    )
    side = grid_side.py_func(p)
    require(
        side <= MAX_GRID_SIZE,
        name,
        f"the grid (grid_size=0: scaled with num_snakes={p.num_snakes}) may be at most "
        f"{MAX_GRID_SIZE} a side",
    )
    require(p.start_length >= 1, name, f"start_length must be >= 1, got {p.start_length}")
    # A placed snake takes a straight line of L + 1 cells (its body and the cell ahead of its
    # head). The grid holds side // (L + 1) disjoint horizontal windows of L + 1 cells per row,
    # and a placed snake overlaps at most max(2, L + 1) of them, so with this many windows a
    # free one is left for every snake whatever the earlier snakes' placement.
    span = p.start_length + 1
    windows = side * (side // span)
    require(
        p.num_snakes * max(2, span) <= windows,
        name,
        f"a {side} x {side} grid has no guaranteed room for {p.num_snakes} snakes of length "
        f"{p.start_length}: need num_snakes * max(2, start_length + 1) <= "
        f"side * (side // (start_length + 1)) = {windows}; raise grid_size",
    )
    require(p.num_food >= 0, name, f"num_food must be >= 0 (0: one per snake), got {p.num_food}")
    require(
        food_count.py_func(p) + p.num_snakes * p.start_length <= side * side,
        name,
        f"num_food={p.num_food} ({food_count.py_func(p)} food items) and num_snakes="
        f"{p.num_snakes} snakes of start_length={p.start_length} do not fit on the "
        f"{side * side} cells of a {side} x {side} grid; lower num_food or raise grid_size",
    )
    require(1 <= p.vision_radius <= 32, name, "vision_radius must be in [1, 32]")
    require(p.max_steps >= 1, name, f"max_steps must be >= 1, got {p.max_steps}")


def observation_size(p: SnakeParams) -> int:
    width = 2 * p.vision_radius + 1
    return CHANNELS * width * width


def observation_space(p: SnakeParams) -> spaces.Box:
    return spaces.Box(0.0, 1.0, (observation_size(p),), dtype=np.float32)


def action_space(p: SnakeParams) -> spaces.Discrete:
    return spaces.Discrete(4)


@njit(cache=True, inline="always")
def _dx(d):
    return int(d == RIGHT) - int(d == LEFT)


@njit(cache=True, inline="always")
def _dy(d):
    return int(d == DOWN) - int(d == UP)


@njit(cache=True, inline="always")
def _randint(rng, g, n):
    """A uniform int in [0, n) from game ``g``'s stream (n << 2**53)."""
    return int(next_u64(rng, g) >> _SHIFT) % n


# The larger functions below are ordinary numba functions rather than ``inline="always"``
# ones: the kernels call reset_row and observe_row from several places, and numba-level
# inlining compiles a copy for each. Measured against inlining everything: the same step
# speed (within noise), and about 40% less compile time for the kernels.


@njit(cache=True)
def _place_food(state, g, rng, grid, cells):
    """Put one food item on an empty cell drawn uniformly; False if there is none. A few
    draws over the whole grid first (cheap while it is mostly empty), then the k-th of the
    empty cells for a uniform k: uniform either way."""
    for _ in range(4):
        c = _randint(rng, g, cells)
        if state[g, grid + c] == EMPTY:
            state[g, grid + c] = FOOD
            state[g, FOOD_COUNT] += 1.0
            return True
    empty = 0
    for c in range(cells):
        empty += state[g, grid + c] == EMPTY
    if empty == 0:
        return False
    k = _randint(rng, g, empty)
    for c in range(cells):
        if state[g, grid + c] == EMPTY:
            if k == 0:
                state[g, grid + c] = FOOD
                state[g, FOOD_COUNT] += 1.0
                return True
            k -= 1
    return False


@njit(cache=True)
def _fits(state, g, grid, side, c, d, length):
    """Whether a straight snake with its head at cell ``c`` heading ``d`` fits: its body and
    the cell ahead of its head inside the grid, empty and not ahead of another snake."""
    x, y = c % side, c // side
    dx, dy = _dx(d), _dy(d)
    for k in range(-1, length):
        cx, cy = x - k * dx, y - k * dy
        if cx < 0 or cx >= side or cy < 0 or cy >= side:
            return False
        if state[g, grid + cy * side + cx] != EMPTY:
            return False
    return True


@njit(cache=True)
def reset_row(state, g, rng, p):
    n = p.num_snakes
    side = grid_side(p)
    cells = side * side
    grid = grid_base(p)
    for k in range(grid + cells):
        state[g, k] = 0.0
    length = p.start_length
    for s in range(n):
        head, heading = -1, 0
        for _ in range(PLACEMENT_TRIES):
            c, d = _randint(rng, g, cells), _randint(rng, g, 4)
            if _fits(state, g, grid, side, c, d, length):
                head, heading = c, d
                break
        if head < 0:  # crowded: scan every (cell, heading) from a random start
            start = _randint(rng, g, 4 * cells)
            for k in range(4 * cells):
                i = (start + k) % (4 * cells)
                if _fits(state, g, grid, side, i // 4, i % 4, length):
                    head, heading = i // 4, i % 4
                    break
        # check_params guarantees a placement; head >= 0 here.
        step = _dx(heading) + _dy(heading) * side
        for k in range(length):
            state[g, grid + head - k * step] = 2.0 + 4.0 * s + heading
        state[g, grid + head + step] = RESERVED  # kept free until every snake is placed
        b = snake_base(s)
        state[g, b + HEAD] = head
        state[g, b + TAIL] = head - (length - 1) * step
        state[g, b + LENGTH] = length
        state[g, b + HEADING] = heading
        state[g, b + ALIVE] = 1.0
    for s in range(n):
        b = snake_base(s)
        heading = int(state[g, b + HEADING])
        state[g, grid + int(state[g, b + HEAD]) + _dx(heading) + _dy(heading) * side] = EMPTY
    state[g, LIVE_COUNT] = n
    for _ in range(food_count(p)):
        _place_food(state, g, rng, grid, cells)


@njit(cache=True, inline="always")
def step_row(state, g, rng, actions, alive, rewards, p):
    n = p.num_snakes
    side = grid_side(p)
    cells = side * side
    grid = grid_base(p)
    # 1. Headings and target cells; each old head now points at its new head.
    for s in range(n):
        if not alive[s]:
            continue
        b = snake_base(s)
        d = actions[s, 0]
        heading = int(state[g, b + HEADING])
        if state[g, b + LENGTH] >= 2.0 and d == (heading + 2) % 4:
            d = heading  # no turning back onto the neck
        state[g, b + HEADING] = d
        head = int(state[g, b + HEAD])
        x, y = head % side + _dx(d), head // side + _dy(d)
        target, eats = -1, False
        if 0 <= x < side and 0 <= y < side:
            target = y * side + x
            eats = state[g, grid + target] == FOOD
        state[g, b + NEXT] = target
        state[g, b + EATS] = 1.0 if eats else 0.0
        state[g, grid + head] = 2.0 + 4.0 * s + d
    # 2. Two snakes swapping places both die. Judged before the tails move: a snake of length
    # 1 is its own tail, and would vacate the cell the other one enters (its old head's cell
    # now holds the marker of the snake whose head it is).
    for s in range(n):
        if not alive[s]:
            continue
        b = snake_base(s)
        target = int(state[g, b + NEXT])
        if target < 0 or state[g, grid + target] < 2.0:
            continue
        o = int(state[g, grid + target] - 2.0) // 4
        ob = snake_base(o)
        if (
            o != s
            and int(state[g, ob + HEAD]) == target
            and int(state[g, ob + NEXT]) == int(state[g, b + HEAD])
        ):
            state[g, b + ALIVE] = 0.0
    # 3. Tails of the snakes not reaching food leave their cells.
    for s in range(n):
        b = snake_base(s)
        if alive[s] and state[g, b + EATS] == 0.0:
            tail = int(state[g, b + TAIL])
            d = (int(state[g, grid + tail]) - 2) % 4
            state[g, grid + tail] = EMPTY
            state[g, b + TAIL] = tail + _dx(d) + _dy(d) * side
    # 4. Collisions: walls, bodies, then heads claiming cells (a claim is -(1 + s)); a
    # snake that died swapping claims nothing.
    for s in range(n):
        b = snake_base(s)
        if not alive[s] or state[g, b + ALIVE] == 0.0:
            continue
        target = int(state[g, b + NEXT])
        if target < 0:
            state[g, b + ALIVE] = 0.0
            continue
        v = state[g, grid + target]
        if v >= 2.0:
            state[g, b + ALIVE] = 0.0
        elif v < 0.0:
            state[g, b + ALIVE] = 0.0
            state[g, snake_base(int(-v) - 1) + ALIVE] = 0.0
        else:
            state[g, grid + target] = -1.0 - s
    # 5. Outcomes: the dead leave the grid, the living advance (and grow on food).
    for s in range(n):
        if not alive[s]:
            continue
        b = snake_base(s)
        target = int(state[g, b + NEXT])
        eats = state[g, b + EATS] != 0.0
        if state[g, b + ALIVE] == 0.0:
            alive[s] = False
            rewards[s] += p.death_reward
            state[g, LIVE_COUNT] -= 1.0
            cell = int(state[g, b + TAIL])
            count = int(state[g, b + LENGTH]) - (0 if eats else 1)
            for _ in range(count):
                d = (int(state[g, grid + cell]) - 2) % 4
                state[g, grid + cell] = EMPTY
                cell += _dx(d) + _dy(d) * side
            if target >= 0 and state[g, grid + target] == -1.0 - s:  # its unresolved claim
                state[g, grid + target] = EMPTY
                if eats:  # the food under a head-to-head collision is gone
                    state[g, FOOD_COUNT] -= 1.0
        else:
            state[g, grid + target] = 2.0 + 4.0 * s + state[g, b + HEADING]
            state[g, b + HEAD] = target
            rewards[s] += p.step_reward
            if eats:
                state[g, b + LENGTH] += 1.0
                state[g, FOOD_COUNT] -= 1.0
                rewards[s] += p.food_reward
    # 6. Replace the food eaten or lost.
    wanted = food_count(p)
    for _ in range(wanted):  # bounded: each pass places one item or stops
        if state[g, FOOD_COUNT] >= wanted or not _place_food(state, g, rng, grid, cells):
            break
    live = state[g, LIVE_COUNT]
    return live <= 0.0 if n == 1 else live <= 1.0


@njit(cache=True)
def observe_row(state, g, a, obs, p):
    r = p.vision_radius
    width = 2 * r + 1
    area = width * width
    side = grid_side(p)
    grid = grid_base(p)
    for i in range(CHANNELS * area):
        obs[g, a, i] = 0.0
    head = int(state[g, snake_base(a) + HEAD])
    hx, hy = head % side, head // side
    first = max(0, r - hx)  # the window's columns inside the grid: [first, last)
    last = min(width, side - hx + r)
    wall = WALL_CH * area
    for row in range(width):
        y = hy + row - r
        start = row * width
        if y < 0 or y >= side:
            for col in range(width):
                obs[g, a, wall + start + col] = 1.0
            continue
        for col in range(first):
            obs[g, a, wall + start + col] = 1.0
        for col in range(last, width):
            obs[g, a, wall + start + col] = 1.0
        origin = grid + y * side + hx - r  # the state index of column 0 of this row
        for col in range(first, last):
            v = state[g, origin + col]
            if v == EMPTY:
                continue
            k = start + col
            if v == FOOD:
                obs[g, a, FOOD_CH * area + k] = 1.0
            else:
                owner = (int(v) - 2) // 4
                if owner == a:
                    obs[g, a, OWN_CH * area + k] = 1.0
                else:
                    obs[g, a, OTHER_CH * area + k] = 1.0
                    if state[g, snake_base(owner) + HEAD] == origin + col - grid:
                        obs[g, a, OTHER_HEAD_CH * area + k] = 1.0


_PALETTE = np.array(
    [
        (92, 186, 92),
        (213, 130, 74),
        (90, 140, 230),
        (220, 200, 70),
        (180, 100, 210),
        (70, 200, 200),
        (230, 120, 160),
        (150, 150, 150),
    ],
    dtype=np.int64,
)


def render(row: np.ndarray, p: SnakeParams) -> np.ndarray:
    """The grid as an RGB image (about 240 pixels a side plus a one-cell wall): food red,
    each snake its own colour with a lighter head."""
    side = grid_side.py_func(p)
    grid = grid_base.py_func(p)
    values = row[grid : grid + side * side].reshape(side, side)
    colours = np.zeros((side + 2, side + 2, 3), dtype=np.int64)
    colours[:] = (70, 70, 80)  # the wall frame
    inner = colours[1:-1, 1:-1]
    inner[:] = (20, 20, 30)
    inner[values == FOOD] = (230, 60, 60)
    body = values >= 2
    owners = ((values[body].astype(np.int64) - 2) // 4) % len(_PALETTE)
    inner[body] = _PALETTE[owners]
    for s in range(p.num_snakes):
        b = snake_base.py_func(s)
        if row[b + ALIVE] == 1.0:
            head = int(row[b + HEAD])
            y, x = divmod(head, side)
            inner[y, x] = (inner[y, x] + 255) // 2
    scale = max(2, 240 // side)
    image = np.repeat(np.repeat(colours, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(image.astype(np.uint8))


def random_bot(seed: int | None = None):
    """A snake that picks uniformly random actions (its own seeded generator)."""
    return uniform_random_bot(4, seed)


_STEPS = ((UP, 0, -1), (RIGHT, 1, 0), (DOWN, 0, 1), (LEFT, -1, 0))


def greedy_bot(seed: int | None = None):
    """A food-seeker that avoids immediate death, from the observation alone.

    Of the four moves it never takes one into a wall or a body (its own tail included, to be
    safe) while another exists, avoids cells next to another snake's head (a possible
    head-to-head) when it can, and otherwise heads for the nearest food in its window
    (Manhattan distance); ties, and the case with no food in view, are broken at random.
    """
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        n = len(obs)
        width = round(math.sqrt(obs.shape[1] / CHANNELS))
        if CHANNELS * width * width != obs.shape[1] or width < 3:
            raise ValueError(
                f"greedy_bot: expected Snake observations of {CHANNELS} x (2r+1)^2 values "
                f"with r >= 1, got shape {obs.shape}"
            )
        r = width // 2
        planes = obs.reshape(n, CHANNELS, width, width) > 0.5
        blocked = planes[:, WALL_CH] | planes[:, OWN_CH] | planes[:, OTHER_CH]
        heads = np.pad(planes[:, OTHER_HEAD_CH], ((0, 0), (1, 1), (1, 1)))
        near_head = heads[:, :-2, 1:-1] | heads[:, 2:, 1:-1] | heads[:, 1:-1, :-2]
        near_head |= heads[:, 1:-1, 2:]
        food = planes[:, FOOD_CH]
        rows, cols = np.mgrid[0:width, 0:width]
        scores = rng.random((n, 4)) * 0.5
        for action, dx, dy in _STEPS:
            y, x = r + dy, r + dx
            distance = np.abs(rows - y) + np.abs(cols - x)
            nearest = np.where(food, distance, 4 * width).min(axis=(1, 2))
            scores[:, action] += nearest + 1000.0 * blocked[:, y, x] + 100.0 * near_head[:, y, x]
        return scores.argmin(axis=1).astype(np.int64)

    act.__name__ = "greedy"
    return act


DEFINITION = from_module(
    GameDefinition,
    __name__,
    name="Snake",
    env_id="Thrust/Snake-v0",
    params_type=SnakeParams,
    num_agents=lambda p: p.num_snakes,
    max_steps=lambda p: p.max_steps,
    bots={"random": random_bot, "greedy": greedy_bot},
    render_fps=10,
)
