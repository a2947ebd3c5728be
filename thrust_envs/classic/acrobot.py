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
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import (
    EnvDefinition,
    Range,
    Registration,
    check_ranges,
    from_module,
    low_high_reset_options,
    positive,
    require,
    state_array,
)
from thrust_envs.core.numerics import libm_pow, wrap
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


_POSITIVE = positive(100.0)
# Valid values. dt past 1 s (5x the reference's) makes one RK4 step of the book dynamics
# meaningless at the clipped velocities; lengths, masses and the moment of inertia must be
# positive (the mass matrix is singular otherwise).
PARAM_RANGES = {
    "dt": positive(1.0),
    "link_length_1": _POSITIVE,
    "link_length_2": _POSITIVE,
    "link_mass_1": _POSITIVE,
    "link_mass_2": _POSITIVE,
    "link_com_pos_1": _POSITIVE,
    "link_com_pos_2": _POSITIVE,
    "link_moi": _POSITIVE,
    "max_vel_1": _POSITIVE,
    "max_vel_2": _POSITIVE,
    "gravity": Range(0.0, 100.0),
    "reset_low": Range(-PI, PI),
    "reset_high": Range(-PI, PI),
}


def check_params(p: AcrobotParams) -> None:
    name = "Acrobot"
    check_ranges(name, p, PARAM_RANGES)
    for k in (1, 2):
        com, length = getattr(p, f"link_com_pos_{k}"), getattr(p, f"link_length_{k}")
        require(
            com <= length,
            name,
            f"link_com_pos_{k} must be <= link_length_{k} (the centre of mass lies on the "
            f"link), got {com} > {length}",
        )
    require(p.reset_low <= p.reset_high, name, "reset_low must be <= reset_high")
    # The reset draws the velocities from [reset_low, reset_high] too: inside the space.
    bound = min(p.max_vel_1, p.max_vel_2)
    require(
        max(abs(p.reset_low), abs(p.reset_high)) <= bound,
        name,
        f"reset_low and reset_high must lie in [-{bound:g}, {bound:g}] "
        f"(min(max_vel_1, max_vel_2): the velocities are drawn from them too), "
        f"got [{p.reset_low}, {p.reset_high}]",
    )


def observation_space(p: AcrobotParams) -> spaces.Box:
    high = np.array([1.0, 1.0, 1.0, 1.0, p.max_vel_1, p.max_vel_2], dtype=np.float32)
    return spaces.Box(low=-high, high=high, dtype=np.float32)


def action_space(p: AcrobotParams) -> spaces.Discrete:
    return spaces.Discrete(3)


# forceinline (LLVM inlines it) rather than inline="always" (numba copies its IR into the
# caller): the RK4 step calls it four times, and four IR copies in every kernel made
# Acrobot's step kernel take 3.5 s to compile instead of 2.4 s, for the same speed.
@njit(cache=True, forceinline=True)
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
    n0 = wrap(n0, -PI, PI)  # the reference's while loops, in closed form (bounded)
    n1 = wrap(n1, -PI, PI)
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


def draw_reset(np_random: np.random.Generator, p: AcrobotParams) -> np.ndarray:
    return (
        np_random.uniform(low=p.reset_low, high=p.reset_high, size=(4,))
        .astype(np.float32)
        .astype(np.float64)
    )


# gymnasium.envs.classic_control.AcrobotEnv's attributes, from the parameters.
REFERENCE_ATTRIBUTES = {
    "dt": lambda p: p.dt,
    "LINK_LENGTH_1": lambda p: p.link_length_1,
    "LINK_LENGTH_2": lambda p: p.link_length_2,
    "LINK_MASS_1": lambda p: p.link_mass_1,
    "LINK_MASS_2": lambda p: p.link_mass_2,
    "LINK_COM_POS_1": lambda p: p.link_com_pos_1,
    "LINK_COM_POS_2": lambda p: p.link_com_pos_2,
    "LINK_MOI": lambda p: p.link_moi,
    "MAX_VEL_1": lambda p: p.max_vel_1,
    "MAX_VEL_2": lambda p: p.max_vel_2,
    "AVAIL_TORQUE": lambda p: list(TORQUES),
    "torque_noise_max": lambda p: 0.0,
    "book_or_nips": lambda p: "book",
    "actions_num": lambda p: 3,
}


def reference_state(row: np.ndarray) -> np.ndarray:
    """The reference's ``state``: ``[theta1, theta2, dtheta1, dtheta2]`` (float64 here; the
    reference holds the float32 draw until the first step, with the same values)."""
    return row[:4].copy()


def state_from_reference(value, row: np.ndarray) -> np.ndarray:
    return state_array("Acrobot", value, 4)


def render(row: np.ndarray, p: AcrobotParams) -> np.ndarray:
    """500x500: the two links hanging from the centre and the goal line."""
    size = 500
    image = draw.canvas(size, size)
    bound = p.link_length_1 + p.link_length_2 + 0.2
    scale = size / (bound * 2)
    offset = size / 2
    draw.hline(image, (1.0 * scale) + offset, (0, 0, 0))
    # Gymnasium's render: the first link's end is p1 = (-l1 cos(theta1), l1 sin(theta1)), drawn
    # with its two coordinates swapped (``xys[:, ::-1]``) so that theta1 = 0 hangs straight down
    # and each link, rotated by theta - pi/2, starts where the previous one ends.
    elbow = (
        np.array([p.link_length_1 * math.sin(row[0]), -p.link_length_1 * math.cos(row[0])]) * scale
    )
    joints = [np.zeros(2), elbow]
    angles = [row[0] - PI / 2, row[0] + row[1] - PI / 2]
    for (x, y), theta, length in zip(
        joints, angles, (p.link_length_1, p.link_length_2), strict=True
    ):
        l, r, t, b = 0.0, length * scale, 0.1 * scale, -0.1 * scale
        link = np.array([(l, b), (l, t), (r, t), (r, b)])
        rotation = np.array(
            [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
        )
        draw.fill_polygon(image, link @ rotation.T + (x + offset, y + offset), (0, 204, 204))
        draw.fill_circle(image, x + offset, y + offset, 0.1 * scale, (204, 204, 0))
    return draw.to_image(image)


DEFINITION = from_module(
    EnvDefinition,
    __name__,
    name="Acrobot",
    params_type=AcrobotParams,
    state_size=STATE_SIZE,
    apply_reset_options=low_high_reset_options,
    render_fps=15,
    reference_attributes=REFERENCE_ATTRIBUTES,
    registrations=(
        Registration("Thrust/Acrobot-v1", max_episode_steps=500, reward_threshold=-100.0),
    ),
)
