"""Acrobot: Gymnasium's ``Acrobot-v1``, as batch kernels.

The reference integrates with its ``rk4`` helper over numpy arrays; the kernel performs the
same scalar operations in the same order (elementwise ``y0 + dt2 * k``, then
``y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)``), so its results are bit-identical.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as cc_utils
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import (
    EnvDefinition,
    Registration,
    low_high_reset_options,
    require,
)
from thrust_envs.core.numerics import libm_pow
from thrust_envs.core.rng import uniform

PI = math.pi


class AcrobotParams(NamedTuple):
    dt: float = 0.2
    link_length_1: float = 1.0
    link_length_2: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0
    max_vel_1: float = 4 * PI
    max_vel_2: float = 9 * PI
    gravity: float = 9.8
    reset_low: float = -0.1
    reset_high: float = 0.1


THETA1, THETA2, DTHETA1, DTHETA2 = range(4)
STATE_SIZE = 4
TORQUES = (-1.0, 0.0, 1.0)


def check_params(p: AcrobotParams) -> None:
    name = "Acrobot"
    require(p.dt > 0, name, f"dt must be > 0, got {p.dt}")
    require(min(p.link_mass_1, p.link_mass_2, p.link_moi) > 0, name, "masses and moi must be > 0")
    require(p.max_vel_1 > 0 and p.max_vel_2 > 0, name, "max_vel_1 and max_vel_2 must be > 0")
    require(p.reset_low <= p.reset_high, name, "reset_low must be <= reset_high")


def observation_space(p: AcrobotParams) -> spaces.Box:
    high = np.array([1.0, 1.0, 1.0, 1.0, p.max_vel_1, p.max_vel_2], dtype=np.float32)
    return spaces.Box(low=-high, high=high, dtype=np.float32)


def action_space(p: AcrobotParams) -> spaces.Discrete:
    return spaces.Discrete(3)


@njit(cache=True, inline="always")
def _dsdt(theta1, theta2, dtheta1, dtheta2, a, p):
    """Gymnasium's AcrobotEnv._dsdt ("book" dynamics), expression for expression; its
    ``x**2`` on floats is libm's pow (see libm_pow)."""
    m1 = p.link_mass_1
    m2 = p.link_mass_2
    l1 = p.link_length_1
    lc1 = p.link_com_pos_1
    lc2 = p.link_com_pos_2
    I1 = p.link_moi
    I2 = p.link_moi
    g = p.gravity
    d1 = (
        m1 * libm_pow(lc1, 2.0)
        + m2 * (libm_pow(l1, 2.0) + libm_pow(lc2, 2.0) + 2 * l1 * lc2 * math.cos(theta2))
        + I1
        + I2
    )
    d2 = m2 * (libm_pow(lc2, 2.0) + l1 * lc2 * math.cos(theta2)) + I2
    phi2 = m2 * lc2 * g * math.cos(theta1 + theta2 - PI / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * libm_pow(dtheta2, 2.0) * math.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * math.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * math.cos(theta1 - PI / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * libm_pow(dtheta1, 2.0) * math.sin(theta2) - phi2
    ) / (m2 * libm_pow(lc2, 2.0) + I2 - libm_pow(d2, 2.0) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


@njit(cache=True, inline="always")
def _wrap(x, m, M):
    diff = M - m
    while x > M:
        x = x - diff
    while x < m:
        x = x + diff
    return x


@njit(cache=True, inline="always")
def step_row(state, i, action, p):
    torque = -1.0 if action == 0 else (0.0 if action == 1 else 1.0)
    y0 = state[i, THETA1]
    y1 = state[i, THETA2]
    y2 = state[i, DTHETA1]
    y3 = state[i, DTHETA2]
    dt = p.dt - 0  # rk4's t = [0, dt]: dt = t[1] - t[0]
    dt2 = dt / 2.0
    # The augmented fifth component (the torque) has derivative 0.0 and so stays constant.
    a1, b1, c1, e1 = _dsdt(y0, y1, y2, y3, torque, p)
    a2, b2, c2, e2 = _dsdt(y0 + dt2 * a1, y1 + dt2 * b1, y2 + dt2 * c1, y3 + dt2 * e1, torque, p)
    a3, b3, c3, e3 = _dsdt(y0 + dt2 * a2, y1 + dt2 * b2, y2 + dt2 * c2, y3 + dt2 * e2, torque, p)
    a4, b4, c4, e4 = _dsdt(y0 + dt * a3, y1 + dt * b3, y2 + dt * c3, y3 + dt * e3, torque, p)
    sixth = dt / 6.0
    n0 = y0 + sixth * (a1 + 2 * a2 + 2 * a3 + a4)
    n1 = y1 + sixth * (b1 + 2 * b2 + 2 * b3 + b4)
    n2 = y2 + sixth * (c1 + 2 * c2 + 2 * c3 + c4)
    n3 = y3 + sixth * (e1 + 2 * e2 + 2 * e3 + e4)
    n0 = _wrap(n0, -PI, PI)
    n1 = _wrap(n1, -PI, PI)
    n2 = min(max(n2, -p.max_vel_1), p.max_vel_1)
    n3 = min(max(n3, -p.max_vel_2), p.max_vel_2)
    state[i, THETA1] = n0
    state[i, THETA2] = n1
    state[i, DTHETA1] = n2
    state[i, DTHETA2] = n3
    terminated = -math.cos(n0) - math.cos(n1 + n0) > 1.0
    return (-1.0 if not terminated else 0.0), terminated


@njit(cache=True, inline="always")
def reset_row(state, i, rng, p):
    for k in range(4):  # the reference draws float64 and keeps it as float32
        state[i, k] = np.float32(uniform(rng, i, p.reset_low, p.reset_high))


@njit(cache=True, inline="always")
def observe_row(state, i, obs, p):
    s0 = state[i, THETA1]
    s1 = state[i, THETA2]
    obs[i, 0] = np.float32(math.cos(s0))
    obs[i, 1] = np.float32(math.sin(s0))
    obs[i, 2] = np.float32(math.cos(s1))
    obs[i, 3] = np.float32(math.sin(s1))
    obs[i, 4] = np.float32(state[i, DTHETA1])
    obs[i, 5] = np.float32(state[i, DTHETA2])


def draw_reset(np_random: np.random.Generator, p: AcrobotParams, options: dict | None):
    low, high = cc_utils.maybe_parse_reset_bounds(options, p.reset_low, p.reset_high)
    return np_random.uniform(low=low, high=high, size=(4,)).astype(np.float32).astype(np.float64)


def render(row: np.ndarray, p: AcrobotParams) -> np.ndarray:
    """500x500: the two links hanging from the centre and the goal line."""
    size = 500
    image = draw.canvas(size, size)
    bound = p.link_length_1 + p.link_length_2 + 0.2
    scale = size / (bound * 2)
    offset = size / 2
    draw.hline(image, (1.0 * scale) + offset, (0, 0, 0))
    p1 = np.array([-p.link_length_1 * math.cos(row[0]), p.link_length_1 * math.sin(row[0])])
    p2 = p1 + [
        -p.link_length_2 * math.cos(row[0] + row[1]),
        p.link_length_2 * math.sin(row[0] + row[1]),
    ]
    joints = [np.zeros(2), p1 * scale, p2 * scale]
    angles = [row[0] - PI / 2, row[0] + row[1] - PI / 2]
    for (x, y), theta, length in zip(
        joints[:2], angles, (p.link_length_1, p.link_length_2), strict=True
    ):
        l, r, t, b = 0.0, length * scale, 0.1 * scale, -0.1 * scale
        link = np.array([(l, b), (l, t), (r, t), (r, b)])
        rotation = np.array(
            [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
        )
        draw.fill_polygon(image, link @ rotation.T + (x + offset, y + offset), (0, 204, 204))
        draw.fill_circle(image, x + offset, y + offset, 0.1 * scale, (204, 204, 0))
    return draw.to_image(image)


DEFINITION = EnvDefinition(
    name="Acrobot",
    params_type=AcrobotParams,
    state_size=STATE_SIZE,
    observation_space=observation_space,
    action_space=action_space,
    step_row=step_row,
    reset_row=reset_row,
    observe_row=observe_row,
    draw_reset=draw_reset,
    render=render,
    apply_reset_options=low_high_reset_options,
    check_params=check_params,
    render_fps=15,
    registrations=(
        Registration("Thrust/Acrobot-v1", max_episode_steps=500, reward_threshold=-100.0),
    ),
    module=__name__,
)
