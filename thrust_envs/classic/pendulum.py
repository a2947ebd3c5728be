"""Pendulum: Gymnasium's ``Pendulum-v1``, as batch kernels.

Follows ``gymnasium.envs.classic_control.pendulum.PendulumEnv`` operation for operation,
including its float32 arithmetic: the action is a float32 array, so under NumPy's promotion
rules ``0.001 * u**2`` and ``3.0 / (m * l**2) * u`` are float32 products in the reference,
and they are float32 products here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as cc_utils
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import EnvDefinition, Registration, require
from thrust_envs.core.numerics import libm_pow
from thrust_envs.core.rng import uniform


class PendulumParams(NamedTuple):
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0
    dt: float = 0.05
    max_speed: float = 8.0
    max_torque: float = 2.0
    reset_x: float = math.pi  # initial angle drawn from [-reset_x, reset_x]
    reset_y: float = 1.0  # initial angular velocity drawn from [-reset_y, reset_y]


# LAST_U is the last clipped torque (for the picture); HAS_U is 0 until the first step.
TH, THDOT, LAST_U, HAS_U = range(4)
STATE_SIZE = 4


def check_params(p: PendulumParams) -> None:
    name = "Pendulum"
    require(p.m > 0 and p.l > 0, name, "m and l must be > 0")
    require(p.dt > 0, name, f"dt must be > 0, got {p.dt}")
    require(p.max_speed > 0 and p.max_torque > 0, name, "max_speed and max_torque must be > 0")


def observation_space(p: PendulumParams) -> spaces.Box:
    high = np.array([1.0, 1.0, p.max_speed], dtype=np.float32)
    return spaces.Box(low=-high, high=high, dtype=np.float32)


def action_space(p: PendulumParams) -> spaces.Box:
    return spaces.Box(low=-p.max_torque, high=p.max_torque, shape=(1,), dtype=np.float32)


@njit(cache=True, inline="always")
def angle_normalize(x):
    return ((x + np.pi) % (2 * np.pi)) - np.pi


@njit(cache=True, inline="always")
def step_row(state, i, action, p):
    th = state[i, TH]
    thdot = state[i, THDOT]
    bound = np.float32(p.max_torque)
    u = min(max(action[0], -bound), bound)  # np.clip of a float32 array: float32
    state[i, LAST_U] = u
    state[i, HAS_U] = 1.0
    # `x ** 2` of NumPy scalars is libm's pow, not x * x (see libm_pow).
    costs = (
        libm_pow(angle_normalize(th), 2.0)
        + 0.1 * libm_pow(thdot, 2.0)
        # float(): the float64 promotion numba makes, written out so that the Python twin
        # (numba's CUDA simulator) promotes alike (NumPy 2 would keep float32).
        + float(np.float32(0.001) * libm_pow(u, np.float32(2.0)))
    )
    torque_term = np.float32(3.0 / (p.m * libm_pow(p.l, 2.0))) * u  # float32, as in the reference
    newthdot = thdot + (3 * p.g / (2 * p.l) * math.sin(th) + float(torque_term)) * p.dt
    newthdot = min(max(newthdot, -p.max_speed), p.max_speed)
    newth = th + newthdot * p.dt
    state[i, TH] = newth
    state[i, THDOT] = newthdot
    return -costs, False


@njit(cache=True, inline="always")
def reset_row(state, i, rng, p):
    state[i, TH] = uniform(rng, i, -p.reset_x, p.reset_x)
    state[i, THDOT] = uniform(rng, i, -p.reset_y, p.reset_y)
    state[i, LAST_U] = 0.0
    state[i, HAS_U] = 0.0


@njit(cache=True, inline="always")
def observe_row(state, i, obs, p):
    theta = state[i, TH]
    obs[i, 0] = np.float32(math.cos(theta))
    obs[i, 1] = np.float32(math.sin(theta))
    obs[i, 2] = np.float32(state[i, THDOT])


def _bounds(p: PendulumParams, options: dict | None) -> tuple[float, float]:
    if options is None:
        return p.reset_x, p.reset_y
    x = options.get("x_init") if "x_init" in options else p.reset_x
    y = options.get("y_init") if "y_init" in options else p.reset_y
    return cc_utils.verify_number_and_cast(x), cc_utils.verify_number_and_cast(y)


def apply_reset_options(p: PendulumParams, options: dict | None) -> PendulumParams:
    x, y = _bounds(p, options)
    return p._replace(reset_x=float(x), reset_y=float(y))


def draw_reset(np_random: np.random.Generator, p: PendulumParams, options: dict | None):
    high = np.array(_bounds(p, options))
    row = np.zeros(STATE_SIZE)
    row[:2] = np_random.uniform(low=-high, high=high)
    return row


def render(row: np.ndarray, p: PendulumParams) -> np.ndarray:
    """500x500: a red rod from the centre, a black axle, as Gymnasium draws it."""
    size = 500
    image = draw.canvas(size, size)
    scale = size / 4.4  # the scene spans 2.2 units either side
    offset = size / 2
    rod_length, rod_width = 1.0 * scale, 0.2 * scale
    l, r, t, b = 0.0, rod_length, rod_width / 2, -rod_width / 2
    rod = np.array([(l, b), (l, t), (r, t), (r, b)])
    angle = row[TH] + math.pi / 2
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    draw.fill_polygon(image, rod @ rotation.T + offset, (204, 77, 77))
    end = np.array([math.cos(angle), math.sin(angle)]) * rod_length + offset
    draw.fill_circle(image, offset, offset, rod_width / 2, (204, 77, 77))
    draw.fill_circle(image, end[0], end[1], rod_width / 2, (204, 77, 77))
    draw.fill_circle(image, offset, offset, 0.05 * scale, (0, 0, 0))
    if row[HAS_U]:  # the last torque, as a grey disc of proportional size under the axle
        radius = abs(row[LAST_U]) / p.max_torque * 0.4 * scale
        draw.fill_circle(image, offset, offset - 0.6 * scale, radius, (128, 128, 128))
    return draw.to_image(image)


DEFINITION = EnvDefinition(
    name="Pendulum",
    params_type=PendulumParams,
    state_size=STATE_SIZE,
    observation_space=observation_space,
    action_space=action_space,
    step_row=step_row,
    reset_row=reset_row,
    observe_row=observe_row,
    draw_reset=draw_reset,
    render=render,
    apply_reset_options=apply_reset_options,
    check_params=check_params,
    render_fps=30,
    reward_type=np.float64,
    registrations=(Registration("Thrust/Pendulum-v1", max_episode_steps=200),),
    module=__name__,
)
