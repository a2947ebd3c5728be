"""MountainCarContinuous: Gymnasium's ``MountainCarContinuous-v0``, as batch kernels.

The reference mixes float32 and float64 arithmetic in a way that depends on the values:
its state is float64 after ``reset`` and float32 after every step, the clipped force is a
float32 when the action was inside the bounds and a Python float when it was clipped, and
NumPy promotes (and compares) accordingly. The kernel tracks which of those cases holds and
does each operation in the precision the reference does, so observations match bit for bit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from numba import njit

from thrust_envs.classic import mountain_car_render
from thrust_envs.classic.mountain_car import check_position_params
from thrust_envs.core.definition import (
    EnvDefinition,
    Range,
    Registration,
    from_module,
    low_high_reset_options,
    parameter_attributes,
    positive,
    require,
    state_array,
)
from thrust_envs.core.numerics import libm_pow
from thrust_envs.core.rng import uniform

f32 = np.float32


class ContinuousMountainCarParams(NamedTuple):
    min_action: float = -1.0
    max_action: float = 1.0
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.45
    goal_velocity: float = 0.0
    power: float = 0.0015
    reset_low: float = -0.6
    reset_high: float = -0.4


# AS_F32 is 1 once a step has stored the state as float32 (the reference's self.state dtype).
POS, VEL, AS_F32 = range(3)
STATE_SIZE = 3


_POSITION = Range(-10.0, 10.0)
# Valid values: as MountainCar's, with actions within three orders of magnitude.
PARAM_RANGES = {
    "min_action": Range(-1000.0, 1000.0),
    "max_action": Range(-1000.0, 1000.0),
    "min_position": _POSITION,
    "max_position": _POSITION,
    "max_speed": positive(10.0),
    "goal_position": _POSITION,
    "goal_velocity": Range(-10.0, 10.0),
    "power": Range(0.0, 1.0),
    "reset_low": _POSITION,
    "reset_high": _POSITION,
}


def check_params(p: ContinuousMountainCarParams) -> None:
    name = "MountainCarContinuous"
    check_position_params(name, p, PARAM_RANGES)
    require(
        p.min_action < p.max_action,
        name,
        f"min_action must be < max_action, got {p.min_action} >= {p.max_action}",
    )


def observation_space(p: ContinuousMountainCarParams) -> spaces.Box:
    low = np.array([p.min_position, -p.max_speed], dtype=np.float32)
    high = np.array([p.max_position, p.max_speed], dtype=np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32)


def action_space(p: ContinuousMountainCarParams) -> spaces.Box:
    return spaces.Box(low=p.min_action, high=p.max_action, shape=(1,), dtype=np.float32)


@njit(cache=True, inline="always")
def _greater(x, x_is_f32, bound):
    # NumPy compares a float32 scalar with a Python float in float32.
    return f32(x) > f32(bound) if x_is_f32 else x > bound


@njit(cache=True, inline="always")
def _less(x, x_is_f32, bound):
    return f32(x) < f32(bound) if x_is_f32 else x < bound


@njit(cache=True, inline="always")
def step_row(state, i, action, p):
    a = action[0]  # float32
    is_f32 = state[i, AS_F32] != 0.0
    position = state[i, POS]
    velocity = state[i, VEL]

    # force = min(max(action[0], min_action), max_action): a Python float only when clipped.
    force, force_f32 = float(a), True
    if f32(p.min_action) > a:
        force, force_f32 = p.min_action, False
    if force_f32 and f32(p.max_action) < a:
        force, force_f32 = p.max_action, False
    elif not force_f32 and p.max_action < force:
        force = p.max_action

    # velocity += force * power - 0.0025 * math.cos(3 * position)
    cos_arg = float(f32(3.0) * f32(position)) if is_f32 else 3.0 * position
    pull = 0.0025 * math.cos(cos_arg)
    if force_f32:
        push = float(f32(f32(force) * f32(p.power)) - f32(pull))
    else:
        push = force * p.power - pull
    if is_f32:
        velocity = float(f32(velocity) + f32(push))
    else:
        velocity = velocity + push
    velocity_f32 = is_f32

    if _greater(velocity, velocity_f32, p.max_speed):
        velocity, velocity_f32 = p.max_speed, False
    if _less(velocity, velocity_f32, -p.max_speed):
        velocity, velocity_f32 = -p.max_speed, False

    position = float(f32(position) + f32(velocity)) if is_f32 else position + velocity
    position_f32 = is_f32
    if _greater(position, position_f32, p.max_position):
        position, position_f32 = p.max_position, False
    if _less(position, position_f32, p.min_position):
        position, position_f32 = p.min_position, False
    at_min = f32(position) == f32(p.min_position) if position_f32 else position == p.min_position
    if at_min and velocity < 0:
        velocity = 0.0

    reached = f32(position) >= f32(p.goal_position) if position_f32 else position >= p.goal_position
    fast = f32(velocity) >= f32(p.goal_velocity) if velocity_f32 else velocity >= p.goal_velocity
    terminated = reached and fast
    reward = 100.0 if terminated else 0.0
    reward -= libm_pow(float(a), 2.0) * 0.1  # math.pow(action[0], 2) * 0.1

    state[i, POS] = float(f32(position))
    state[i, VEL] = float(f32(velocity))
    state[i, AS_F32] = 1.0
    return reward, terminated


@njit(cache=True, inline="always")
def reset_row(state, i, rng, p):
    state[i, POS] = uniform(rng, i, p.reset_low, p.reset_high)
    state[i, VEL] = 0.0
    state[i, AS_F32] = 0.0


@njit(cache=True, inline="always")
def observe_row(state, i, obs, p):
    obs[i, 0] = np.float32(state[i, POS])
    obs[i, 1] = np.float32(state[i, VEL])


def draw_reset(np_random: np.random.Generator, p: ContinuousMountainCarParams) -> np.ndarray:
    return np.array([np_random.uniform(low=p.reset_low, high=p.reset_high), 0.0, 0.0])


# gymnasium.envs.classic_control.Continuous_MountainCarEnv's attributes, from the parameters.
REFERENCE_ATTRIBUTES = {
    **parameter_attributes(
        "min_action",
        "max_action",
        "min_position",
        "max_position",
        "max_speed",
        "goal_position",
        "goal_velocity",
        "power",
    ),
    "low_state": lambda p: np.array([p.min_position, -p.max_speed], dtype=np.float32),
    "high_state": lambda p: np.array([p.max_position, p.max_speed], dtype=np.float32),
}


def reference_state(row: np.ndarray) -> np.ndarray:
    """The reference's ``state``: ``[position, velocity]``, float64 after a reset and float32
    after a step, as the reference's arithmetic depends on it."""
    return row[:2].astype(np.float32 if row[AS_F32] else np.float64)


def state_from_reference(value, row: np.ndarray) -> np.ndarray:
    """A float32 array (what the reference's step stores) is computed on in float32 from
    then on, anything else in float64, as the reference does."""
    is_f32 = isinstance(value, np.ndarray) and value.dtype == np.float32
    return np.array([*state_array("MountainCarContinuous", value, 2), float(is_f32)])


def render(row: np.ndarray, p: ContinuousMountainCarParams) -> np.ndarray:
    return mountain_car_render.render(row[POS], p.min_position, p.max_position, p.goal_position)


DEFINITION = from_module(
    EnvDefinition,
    __name__,
    name="MountainCarContinuous",
    params_type=ContinuousMountainCarParams,
    state_size=STATE_SIZE,
    apply_reset_options=low_high_reset_options,
    render_fps=30,
    reference_attributes=REFERENCE_ATTRIBUTES,
    registrations=(
        Registration(
            "Thrust/MountainCarContinuous-v0", max_episode_steps=999, reward_threshold=90.0
        ),
    ),
)
