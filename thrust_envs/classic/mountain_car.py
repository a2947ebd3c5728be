"""MountainCar: Gymnasium's ``MountainCar-v0`` (discrete), as batch kernels.

Follows ``gymnasium.envs.classic_control.mountain_car.MountainCarEnv`` operation for
operation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from numba import njit

from thrust_envs.classic import mountain_car_render
from thrust_envs.core.definition import (
    EnvDefinition,
    Range,
    Registration,
    check_ranges,
    from_module,
    low_high_reset_options,
    parameter_attributes,
    positive,
    require,
    state_array,
)
from thrust_envs.core.rng import uniform


class MountainCarParams(NamedTuple):
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    reset_low: float = -0.6
    reset_high: float = -0.4


POS, VEL = range(2)
STATE_SIZE = 2


_POSITION = Range(-10.0, 10.0)
# Valid values: positions within a few valleys of the reference's, speeds, forces and gravity
# within two orders of magnitude; the reset interval inside [min_position, max_position].
PARAM_RANGES = {
    "min_position": _POSITION,
    "max_position": _POSITION,
    "max_speed": positive(10.0),
    "goal_position": _POSITION,
    "goal_velocity": Range(-10.0, 10.0),
    "force": Range(0.0, 1.0),
    "gravity": Range(0.0, 1.0),
    "reset_low": _POSITION,
    "reset_high": _POSITION,
}


def check_params(p: MountainCarParams) -> None:
    check_position_params("MountainCar", p, PARAM_RANGES)


def check_position_params(name: str, p, ranges: dict[str, Range]) -> None:
    """The checks both mountain cars share: ranges, min_position < max_position, and a reset
    interval inside the track (so that a fresh state is inside the observation space)."""
    check_ranges(name, p, ranges)
    require(
        p.min_position < p.max_position,
        name,
        f"min_position must be < max_position, got {p.min_position} >= {p.max_position}",
    )
    require(
        p.min_position <= p.reset_low <= p.reset_high <= p.max_position,
        name,
        f"need min_position <= reset_low <= reset_high <= max_position (reset options "
        f"low/high), got {p.min_position} / {p.reset_low} / {p.reset_high} / {p.max_position}",
    )


def observation_space(p: MountainCarParams) -> spaces.Box:
    low = np.array([p.min_position, -p.max_speed], dtype=np.float32)
    high = np.array([p.max_position, p.max_speed], dtype=np.float32)
    return spaces.Box(low, high, dtype=np.float32)


def action_space(p: MountainCarParams) -> spaces.Discrete:
    return spaces.Discrete(3)


@njit(cache=True, inline="always")
def step_row(state, i, action, p):
    position = state[i, POS]
    velocity = state[i, VEL]
    velocity += (action - 1) * p.force + math.cos(3 * position) * (-p.gravity)
    velocity = min(max(velocity, -p.max_speed), p.max_speed)
    position += velocity
    position = min(max(position, p.min_position), p.max_position)
    if position == p.min_position and velocity < 0:
        velocity = 0.0
    terminated = position >= p.goal_position and velocity >= p.goal_velocity
    state[i, POS] = position
    state[i, VEL] = velocity
    return -1.0, terminated


@njit(cache=True, inline="always")
def reset_row(state, i, rng, p):
    state[i, POS] = uniform(rng, i, p.reset_low, p.reset_high)
    state[i, VEL] = 0.0


@njit(cache=True, inline="always")
def observe_row(state, i, obs, p):
    obs[i, 0] = np.float32(state[i, POS])
    obs[i, 1] = np.float32(state[i, VEL])


def draw_reset(np_random: np.random.Generator, p: MountainCarParams) -> np.ndarray:
    return np.array([np_random.uniform(low=p.reset_low, high=p.reset_high), 0.0])


# gymnasium.envs.classic_control.MountainCarEnv's attributes, from the parameters.
REFERENCE_ATTRIBUTES = {
    **parameter_attributes(
        "min_position",
        "max_position",
        "max_speed",
        "goal_position",
        "goal_velocity",
        "force",
        "gravity",
    ),
    "low": lambda p: np.array([p.min_position, -p.max_speed], dtype=np.float32),
    "high": lambda p: np.array([p.max_position, p.max_speed], dtype=np.float32),
}


def reference_state(row: np.ndarray) -> np.ndarray:
    """The reference's ``state``: float64 ``[position, velocity]`` (the reference holds a
    tuple of the same two values after a step)."""
    return row[:2].copy()


def state_from_reference(value, row: np.ndarray) -> np.ndarray:
    return state_array("MountainCar", value, 2)


def render(row: np.ndarray, p: MountainCarParams) -> np.ndarray:
    return mountain_car_render.render(row[POS], p.min_position, p.max_position, p.goal_position)


DEFINITION = from_module(
    EnvDefinition,
    __name__,
    name="MountainCar",
    params_type=MountainCarParams,
    state_size=STATE_SIZE,
    apply_reset_options=low_high_reset_options,
    render_fps=30,
    reference_attributes=REFERENCE_ATTRIBUTES,
    registrations=(
        Registration("Thrust/MountainCar-v0", max_episode_steps=200, reward_threshold=-110.0),
    ),
)
