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
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import (
    EnvDefinition,
    ParamError,
    Range,
    Registration,
    check_ranges,
    from_module,
    parameter_attributes,
    positive,
    require,
    reset_option,
    state_array,
)
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


_POSITIVE = positive(100.0)
# Valid values: a positive mass, length and time step, speeds and torques within a few orders
# of magnitude of the reference's; the reset half-widths are >= 0 (reset_y also at most
# max_speed, checked below, so that a fresh state is inside the observation space).
PARAM_RANGES = {
    "g": Range(-100.0, 100.0),
    "m": _POSITIVE,
    "l": Range(0.01, 100.0),
    "dt": positive(1.0),
    "max_speed": positive(1000.0),
    "max_torque": positive(1000.0),
    "reset_x": Range(0.0, 1000.0),
    "reset_y": Range(0.0, 1000.0),
}


def check_params(p: PendulumParams) -> None:
    name = "Pendulum"
    check_ranges(name, p, PARAM_RANGES)
    require(
        p.reset_y <= p.max_speed,
        name,
        f"reset_y (reset option y_init) must be <= max_speed={p.max_speed}: the initial "
        f"angular velocity is drawn from [-reset_y, reset_y]; got {p.reset_y}",
    )


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


def apply_reset_options(p: PendulumParams, options: dict | None) -> PendulumParams:
    """Gymnasium's ``options={"x_init": .., "y_init": ..}``: finite half-widths >= 0."""
    x = reset_option(options, "x_init", p.reset_x)
    y = reset_option(options, "y_init", p.reset_y)
    for key, value in (("x_init", x), ("y_init", y)):
        if value < 0:
            raise ParamError(f"reset option {key!r} must be >= 0 (a half-width), got {value!r}")
    return p._replace(reset_x=x, reset_y=y)


def draw_reset(np_random: np.random.Generator, p: PendulumParams) -> np.ndarray:
    high = np.array([p.reset_x, p.reset_y])
    row = np.zeros(STATE_SIZE)
    row[:2] = np_random.uniform(low=-high, high=high)
    return row


# gymnasium.envs.classic_control.PendulumEnv's attributes, from the parameters.
REFERENCE_ATTRIBUTES = parameter_attributes("max_speed", "max_torque", "dt", "g", "m", "l")
# ... and those that follow the state: ``last_u``, the last clipped torque (None since reset).
REFERENCE_STATE_ATTRIBUTES = {
    "last_u": lambda row, p: np.float32(row[LAST_U]) if row[HAS_U] else None,
}


def reference_state(row: np.ndarray) -> np.ndarray:
    """The reference's ``state``: float64 ``[th, thdot]``."""
    return row[:2].copy()


def state_from_reference(value, row: np.ndarray) -> np.ndarray:
    new = row.copy()
    new[:2] = state_array("Pendulum", value, 2)
    return new


def render(row: np.ndarray, p: PendulumParams) -> np.ndarray:
    """500x500 ``[H, W, 3]`` uint8: a red rod from the centre, the last torque, a black axle.

    As Gymnasium draws it, the last torque is a curved arrow around the axle whose size follows
    ``|u|`` and whose direction follows its sign: counterclockwise for ``u > 0`` (the direction
    that increases ``th``), clockwise for ``u < 0``. The torque is the state's ``LAST_U`` column
    (the clipped action of the last step), nothing before the first step.
    """
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
    if row[HAS_U] and row[LAST_U] != 0.0:
        _draw_torque_arrow(image, offset, float(row[LAST_U]) / p.max_torque * scale)
    draw.fill_circle(image, offset, offset, 0.05 * scale, (0, 0, 0))
    return draw.to_image(image)


def _draw_torque_arrow(image: np.ndarray, centre: float, signed_size: float) -> None:
    """A three-quarter arc around (centre, centre) ending in an arrowhead, onto ``image``.

    ``signed_size`` is ``u / max_torque`` times one scene unit in pixels: the arc's radius is
    ``0.4 * |signed_size|``; its sign picks the direction (positive: counterclockwise on the
    y-up canvas). The clockwise arrow is the counterclockwise one's pixels mirrored left to
    right (the canvas is symmetric about ``centre``), so the two are exact mirror images.
    """
    radius = 0.4 * abs(signed_size)
    thickness = max(radius * 0.12, 1.0)
    layer = draw.canvas(image.shape[1], image.shape[0], (0, 0, 0))
    ink = (255, 255, 255)
    # Counterclockwise from the bottom right (-45 degrees) over the top to the bottom left
    # (225), the head at the bottom left; the arc alone is symmetric, so the head says which.
    for phi in np.linspace(-math.pi / 4, 5 * math.pi / 4, 64):
        x, y = centre + radius * math.cos(phi), centre + radius * math.sin(phi)
        draw.fill_circle(layer, x, y, thickness, ink)
    tip_angle = 5 * math.pi / 4
    tangent = np.array([-math.sin(tip_angle), math.cos(tip_angle)])  # counterclockwise
    normal = np.array([math.cos(tip_angle), math.sin(tip_angle)])
    base = radius * normal
    head = np.array(
        [
            base + 3.0 * thickness * tangent,
            base + 2.5 * thickness * normal,
            base - 2.5 * thickness * normal,
        ]
    )
    draw.fill_polygon(layer, head + centre, ink)
    drawn = layer[..., 0] > 0
    image[drawn if signed_size > 0 else drawn[:, ::-1]] = (64, 64, 64)


DEFINITION = from_module(
    EnvDefinition,
    __name__,
    name="Pendulum",
    params_type=PendulumParams,
    state_size=STATE_SIZE,
    apply_reset_options=apply_reset_options,
    render_fps=30,
    reward_type=np.float64,
    reference_attributes=REFERENCE_ATTRIBUTES,
    reference_state_attributes=REFERENCE_STATE_ATTRIBUTES,
    registrations=(Registration("Thrust/Pendulum-v1", max_episode_steps=200),),
)
