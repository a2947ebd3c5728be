"""Pong: two paddles and a ball, simultaneous actions, egocentric mirrored observations.

``player_0`` defends the left goal line (x = 0), ``player_1`` the right one (x = 1); the
court spans y in [0, 1]. Actions: 0 stay, 1 up, 2 down. A point pays +1 to the scorer and
-1 to the conceder; the game ends when a player reaches ``points_to_win`` and is truncated
after ``max_steps``. Each player sees the court from its own side (x mirrored for
``player_1``), so one policy can play either seat.

The ball moves by its velocity each step, reflecting off the top and bottom walls. A ball
that reaches a goal line in a step is returned if its y at the step's end (not where it
crossed the line: a step moves it at most ``max_ball_speed``) is within
``paddle_half_height`` of the defender's paddle, leaving at an angle up to
``max_bounce_angle`` by how far from the centre it hit, at ``ball_speedup`` times its speed
(at most ``max_ball_speed``); else the other player scores.

Observation (float32, 8): own paddle y, opponent paddle y, ball distance from own goal line,
ball y, ball x-velocity (positive: towards the opponent) and y-velocity, both divided by
``max_ball_speed``, own and opponent score divided by ``points_to_win``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import Range, check_ranges, from_module, positive, require
from thrust_envs.core.games import GameDefinition, uniform_random_bot
from thrust_envs.core.rng import uniform


class PongParams(NamedTuple):
    paddle_half_height: float = 0.1
    paddle_speed: float = 0.035
    ball_speed: float = 0.02  # at each serve, per step
    ball_speedup: float = 1.1  # per paddle hit
    max_ball_speed: float = 0.06
    max_bounce_angle: float = 1.0  # radians, for a hit at the paddle's edge
    serve_angle: float = 0.5  # serves leave within +-serve_angle of horizontal
    points_to_win: int = 5
    max_steps: int = 4000


P0Y, P1Y, BX, BY, VX, VY, SPEED, S0, S1 = range(9)
STATE_SIZE = 9
STAY, UP, DOWN = 0, 1, 2


# Valid values (the table is 1 x 1; speeds are per step). Below, the relations between them.
PARAM_RANGES = {
    "paddle_half_height": positive(0.5, high_open=True),
    "paddle_speed": positive(0.5),
    "ball_speed": positive(0.5, high_open=True),
    # at least 1: a ball slowed at every return stalls between two good players (below 1e-4
    # a step after 20,000 steps at 0.5), a game that never ends
    "ball_speedup": Range(1.0, 2.0),
    "max_ball_speed": positive(0.5, high_open=True),
    "max_bounce_angle": Range(0.0, 1.5),
    "serve_angle": Range(0.0, 1.5),
    "points_to_win": Range(1, 10**6),
    "max_steps": Range(1, 2**31 - 1),
}


def check_params(p: PongParams) -> None:
    name = "Pong"
    check_ranges(name, p, PARAM_RANGES)
    require(0 < p.paddle_half_height < 0.5, name, "paddle_half_height must be in (0, 0.5)")
    require(p.paddle_speed > 0 and p.ball_speed > 0, name, "speeds must be > 0")
    require(p.ball_speed <= p.max_ball_speed < 0.5, name, "need ball_speed <= max_ball_speed < 0.5")
    require(p.points_to_win >= 1, name, "points_to_win must be >= 1")
    require(p.max_steps >= 1, name, "max_steps must be >= 1")


def observation_space(p: PongParams) -> spaces.Box:
    low = np.array([0, 0, 0, 0, -1, -1, 0, 0], dtype=np.float32)
    high = np.ones(8, dtype=np.float32)
    return spaces.Box(low, high, dtype=np.float32)


def action_space(p: PongParams) -> spaces.Discrete:
    return spaces.Discrete(3)


@njit(cache=True, inline="always")
def _serve(state, g, rng, p, towards):
    """Ball from the centre line towards player ``towards`` (0 or 1) at a random angle."""
    angle = uniform(rng, g, -p.serve_angle, p.serve_angle)
    direction = -1.0 if towards == 0 else 1.0
    state[g, BX] = 0.5
    state[g, BY] = uniform(rng, g, 0.3, 0.7)
    state[g, SPEED] = p.ball_speed
    state[g, VX] = direction * p.ball_speed * math.cos(angle)
    state[g, VY] = p.ball_speed * math.sin(angle)


@njit(cache=True, inline="always")
def _move(y, action, p):
    if action == UP:
        y += p.paddle_speed
    elif action == DOWN:
        y -= p.paddle_speed
    return min(max(y, p.paddle_half_height), 1.0 - p.paddle_half_height)


@njit(cache=True, inline="always")
def step_row(state, g, rng, actions, alive, rewards, p):
    state[g, P0Y] = _move(state[g, P0Y], actions[0, 0], p)
    state[g, P1Y] = _move(state[g, P1Y], actions[1, 0], p)
    bx = state[g, BX] + state[g, VX]
    by = state[g, BY] + state[g, VY]
    vy = state[g, VY]
    if by < 0.0:
        by, vy = -by, -vy
    elif by > 1.0:
        by, vy = 2.0 - by, -vy
    state[g, BX], state[g, BY], state[g, VY] = bx, by, vy
    for defender in range(2):
        crossed = bx <= 0.0 if defender == 0 else bx >= 1.0
        if not crossed:
            continue
        paddle = state[g, P0Y] if defender == 0 else state[g, P1Y]
        offset = (by - paddle) / p.paddle_half_height
        if abs(offset) <= 1.0:  # returned: the further from the centre, the steeper
            speed = min(state[g, SPEED] * p.ball_speedup, p.max_ball_speed)
            angle = offset * p.max_bounce_angle
            away = 1.0 if defender == 0 else -1.0
            state[g, SPEED] = speed
            state[g, VX] = away * speed * math.cos(angle)
            state[g, VY] = speed * math.sin(angle)
            state[g, BX] = -bx if defender == 0 else 2.0 - bx
        else:  # point to the other player, who serves towards the conceder
            scorer = 1 - defender
            rewards[scorer] += 1.0
            rewards[defender] -= 1.0
            state[g, S0 + scorer] += 1.0
            _serve(state, g, rng, p, defender)
    return state[g, S0] >= p.points_to_win or state[g, S1] >= p.points_to_win


@njit(cache=True, inline="always")
def reset_row(state, g, rng, p):
    state[g, P0Y] = 0.5
    state[g, P1Y] = 0.5
    state[g, S0] = 0.0
    state[g, S1] = 0.0
    _serve(state, g, rng, p, 0 if uniform(rng, g, 0.0, 1.0) < 0.5 else 1)


@njit(cache=True, inline="always")
def observe_row(state, g, a, obs, p):
    inv = 1.0 / p.max_ball_speed
    if a == 0:
        obs[g, a, 0] = state[g, P0Y]
        obs[g, a, 1] = state[g, P1Y]
        obs[g, a, 2] = min(max(state[g, BX], 0.0), 1.0)
        obs[g, a, 4] = state[g, VX] * inv
        obs[g, a, 6] = state[g, S0] / p.points_to_win
        obs[g, a, 7] = state[g, S1] / p.points_to_win
    else:
        obs[g, a, 0] = state[g, P1Y]
        obs[g, a, 1] = state[g, P0Y]
        obs[g, a, 2] = min(max(1.0 - state[g, BX], 0.0), 1.0)
        obs[g, a, 4] = -state[g, VX] * inv
        obs[g, a, 6] = state[g, S1] / p.points_to_win
        obs[g, a, 7] = state[g, S0] / p.points_to_win
    obs[g, a, 3] = state[g, BY]
    obs[g, a, 5] = state[g, VY] * inv


def render(row: np.ndarray, p: PongParams) -> np.ndarray:
    """210x160 like Atari Pong: dark court, paddles, ball, and the score as bars."""
    height, width = 210, 160
    image = draw.canvas(width, height, (20, 20, 40))
    h = p.paddle_half_height * height
    for x, y, colour in ((4.0, row[P0Y], (92, 186, 92)), (width - 4.0, row[P1Y], (213, 130, 74))):
        draw.fill_polygon(
            image,
            np.array(
                [
                    (x - 2, y * height - h),
                    (x - 2, y * height + h),
                    (x + 2, y * height + h),
                    (x + 2, y * height - h),
                ]
            ),
            colour,
        )
    draw.fill_circle(image, row[BX] * width, row[BY] * height, 2.5, (236, 236, 236))
    for k, (score, colour) in enumerate(((row[S0], (92, 186, 92)), (row[S1], (213, 130, 74)))):
        for point in range(int(score)):
            x0 = 20 + k * 70 + point * 8
            draw.fill_polygon(
                image, np.array([(x0, 200), (x0, 206), (x0 + 5, 206), (x0 + 5, 200)]), colour
            )
    return draw.to_image(image)


def random_bot(seed: int | None = None):
    """A player that picks uniformly random actions (its own seeded generator)."""
    return uniform_random_bot(3, seed)


def tracker_bot(reaction: float = 0.5, aim: float = 0.05, dead_zone: float = 0.02):
    """A ball-tracking player. It follows the ball's height once an approaching ball is
    within ``reaction`` (a fraction of the court's length) of its goal line, and drifts back
    to the centre otherwise; it meets the ball ``aim`` off its paddle's centre, towards the
    court's centre line, to return it at an angle. Slow reactions leave no time to reach
    angled balls; even at ``reaction=1`` the paddle is slower than the fastest angled balls,
    so every setting is beatable, and faster settings are harder.
    """
    if not 0.0 < reaction <= 1.0:
        raise ValueError(f"tracker reaction must be in (0, 1], got {reaction}")
    if not 0.0 <= aim < 1.0:  # the paddle spans less than the court
        raise ValueError(f"tracker aim must be in [0, 1), got {aim}")
    if not 0.0 <= dead_zone < 1.0:  # a negative one jitters the paddle around its target
        raise ValueError(f"tracker dead_zone must be in [0, 1), got {dead_zone}")

    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        own_y, ball_x, ball_y, ball_vx = obs[:, 0], obs[:, 2], obs[:, 3], obs[:, 4]
        approaching = (ball_vx < 0) & (ball_x <= reaction)
        side = np.where(ball_y >= 0.5, 1.0, -1.0)
        target = np.where(approaching, ball_y - aim * side, 0.5)
        return np.where(
            target > own_y + dead_zone, UP, np.where(target < own_y - dead_zone, DOWN, STAY)
        ).astype(np.int64)

    # its name tells trackers apart (the defaults left out, as players name them)
    act.__name__ = f"tracker:{reaction}" + (
        "" if (aim, dead_zone) == (0.05, 0.02) else f",aim={aim},dead_zone={dead_zone}"
    )
    return act


DEFINITION = from_module(
    GameDefinition,
    __name__,
    name="Pong",
    env_id="Thrust/Pong-v0",
    params_type=PongParams,
    state_size=STATE_SIZE,
    num_agents=lambda p: 2,
    max_steps=lambda p: p.max_steps,
    bots={"random": random_bot, "tracker": tracker_bot},
)
