"""CartPole: Gymnasium's ``CartPole-v1``/``-v0``, as batch kernels.

Physics, spaces, rewards, termination, reset distribution, ``options={"low", "high"}`` and
seeding follow ``gymnasium.envs.classic_control.cartpole.CartPoleEnv`` operation for
operation, so a seeded single env reproduces the reference bit for bit.
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
    parameter_attributes,
    positive,
    require,
    state_array,
)
from thrust_envs.core.rng import uniform


class CartPoleParams(NamedTuple):
    """Physical constants and episode rules (Gymnasium's values by default)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02  # seconds between state updates
    semi_implicit_euler: bool = False  # Gymnasium's kinematics_integrator != "euler"
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    sutton_barto_reward: bool = False
    reset_low: float = -0.05
    reset_high: float = 0.05


# State columns. BEYOND is 1 once the pole has fallen and the episode was not reset: Gymnasium
# pays 1.0 on the falling step and 0.0 (or -1.0) on any step after it.
X, X_DOT, THETA, THETA_DOT, BEYOND = range(5)
STATE_SIZE = 5


# Valid values: physical quantities within a few orders of magnitude of the reference's,
# a pole that fails before it is horizontal, and (checked in check_params) a time step short
# enough that one step cannot carry the cart or the pole past twice its threshold, where the
# observation space ends.
PARAM_RANGES = {
    "gravity": Range(-100.0, 100.0),
    "masscart": positive(100.0),
    "masspole": positive(100.0),
    "length": Range(0.01, 100.0),
    "force_mag": Range(0.0, 1000.0),
    "tau": positive(0.1),
    "theta_threshold_radians": positive(math.pi / 2),
    "x_threshold": positive(1000.0),
    "reset_low": Range(-1.0, 1.0),
    "reset_high": Range(-1.0, 1.0),
}


def check_params(p: CartPoleParams) -> None:
    name = "CartPole"
    check_ranges(name, p, PARAM_RANGES)
    require(p.reset_low <= p.reset_high, name, "reset_low must be <= reset_high")
    # Every state variable is drawn from [reset_low, reset_high]: a fresh episode must start
    # inside the thresholds (and so inside the observation space).
    bound = min(p.x_threshold, p.theta_threshold_radians)
    require(
        max(abs(p.reset_low), abs(p.reset_high)) <= bound,
        name,
        f"reset_low and reset_high must lie in [-{bound:g}, {bound:g}] "
        f"(min(x_threshold, theta_threshold_radians)), got [{p.reset_low}, {p.reset_high}]",
    )
    steps = _steps_to_overshoot(p)
    require(
        steps >= 1.0,
        name,
        f"tau={p.tau} is too long for these parameters: one step can carry the cart or the "
        f"pole past twice its threshold (outside the observation space); use tau <= "
        f"{p.tau * math.sqrt(steps):.3g}",
    )


def _steps_to_overshoot(p: CartPoleParams) -> float:
    """``(T / (tau v))**2``, the smaller for the cart (``T = x_threshold``, ``v`` its speed)
    and the pole (``theta_threshold_radians``, its angular speed): >= 1 means one step moves
    at most one threshold, so a state inside the thresholds stays inside twice them (the
    observation space).

    ``v`` bounds the speed reachable inside the thresholds from a reset (or from rest, at a
    reversal): ``v**2 <= v0**2 + 2 a d`` over the distance ``d = 2 T`` with the largest
    acceleration ``a`` the equations allow there. For the pole, the centrifugal term
    ``-mp w**2 sin cos / (M (4/3 - mp cos**2 / M))`` is ``-(w**2 / 2) d/dtheta log(4/3 - mp
    cos**2 / M)``, so over the thresholds it scales ``w**2`` by at most the ratio of that
    denominator at the threshold and at 0."""
    total = p.masscart + p.masspole
    mu = p.masspole / total
    reset = max(abs(p.reset_low), abs(p.reset_high))
    cos_t = math.cos(p.theta_threshold_radians)
    denominator = p.length * (4.0 / 3.0 - mu)  # the smallest l (4/3 - mp cos^2 / M)
    pole_acc = (abs(p.gravity) + p.force_mag / total) / denominator
    centrifugal = (4.0 / 3.0 - mu * cos_t**2) / (4.0 / 3.0 - mu)
    w2 = centrifugal * (reset**2 + 2.0 * pole_acc * 2.0 * p.theta_threshold_radians)
    pole_acc_full = pole_acc + 0.5 * mu * w2 / (4.0 / 3.0 - mu)
    cart_acc = (p.force_mag + p.masspole * p.length * (w2 + pole_acc_full)) / total
    v2 = reset**2 + 2.0 * cart_acc * 2.0 * p.x_threshold
    # a tiny tau (say 5e-324) squares to 0: no overshoot is possible then
    cart_step, pole_step = p.tau**2 * v2, p.tau**2 * w2
    cart = p.x_threshold**2 / cart_step if cart_step > 0 else math.inf
    pole = p.theta_threshold_radians**2 / pole_step if pole_step > 0 else math.inf
    return min(cart, pole)


def observation_space(p: CartPoleParams) -> spaces.Box:
    high = np.array(
        [p.x_threshold * 2, np.inf, p.theta_threshold_radians * 2, np.inf], dtype=np.float32
    )
    return spaces.Box(-high, high, dtype=np.float32)


def action_space(p: CartPoleParams) -> spaces.Discrete:
    return spaces.Discrete(2)


@njit(cache=True, inline="always")
def step_row(state, i, action, p):
    x = state[i, X]
    x_dot = state[i, X_DOT]
    theta = state[i, THETA]
    theta_dot = state[i, THETA_DOT]
    force = p.force_mag if action == 1 else -p.force_mag
    costheta = math.cos(theta)
    sintheta = math.sin(theta)
    # The same operations in the same order as Gymnasium's CartPoleEnv.step.
    total_mass = p.masspole + p.masscart
    polemass_length = p.masspole * p.length
    temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
    thetaacc = (p.gravity * sintheta - costheta * temp) / (
        p.length * (4.0 / 3.0 - p.masspole * (costheta * costheta) / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    if not p.semi_implicit_euler:
        x = x + p.tau * x_dot
        x_dot = x_dot + p.tau * xacc
        theta = theta + p.tau * theta_dot
        theta_dot = theta_dot + p.tau * thetaacc
    else:
        x_dot = x_dot + p.tau * xacc
        x = x + p.tau * x_dot
        theta_dot = theta_dot + p.tau * thetaacc
        theta = theta + p.tau * theta_dot
    state[i, X] = x
    state[i, X_DOT] = x_dot
    state[i, THETA] = theta
    state[i, THETA_DOT] = theta_dot
    terminated = (
        x < -p.x_threshold
        or x > p.x_threshold
        or theta < -p.theta_threshold_radians
        or theta > p.theta_threshold_radians
    )
    if not terminated:
        reward = 0.0 if p.sutton_barto_reward else 1.0
    elif state[i, BEYOND] == 0.0:
        state[i, BEYOND] = 1.0
        reward = -1.0 if p.sutton_barto_reward else 1.0
    else:
        reward = -1.0 if p.sutton_barto_reward else 0.0
    return reward, terminated


@njit(cache=True, inline="always")
def reset_row(state, i, rng, p):
    for k in range(4):
        state[i, k] = uniform(rng, i, p.reset_low, p.reset_high)
    state[i, BEYOND] = 0.0


@njit(cache=True, inline="always")
def observe_row(state, i, obs, p):
    for k in range(4):
        obs[i, k] = np.float32(state[i, k])


def draw_reset(np_random: np.random.Generator, p: CartPoleParams) -> np.ndarray:
    row = np.zeros(STATE_SIZE)
    row[:4] = np_random.uniform(low=p.reset_low, high=p.reset_high, size=(4,))
    return row


# gymnasium.envs.classic_control.CartPoleEnv's attributes, from the parameters.
REFERENCE_ATTRIBUTES = {
    **parameter_attributes(
        "gravity",
        "masscart",
        "masspole",
        "length",
        "force_mag",
        "tau",
        "theta_threshold_radians",
        "x_threshold",
    ),
    "total_mass": lambda p: p.masspole + p.masscart,
    "polemass_length": lambda p: p.masspole * p.length,
    "kinematics_integrator": lambda p: "semi-implicit" if p.semi_implicit_euler else "euler",
    "_sutton_barto_reward": lambda p: p.sutton_barto_reward,
}


def reference_state(row: np.ndarray) -> np.ndarray:
    """The reference's ``state``: float64 ``[x, x_dot, theta, theta_dot]``."""
    return row[:4].copy()


def state_from_reference(value, row: np.ndarray) -> np.ndarray:
    new = row.copy()
    new[:4] = state_array("CartPole", value, 4)
    return new  # BEYOND kept: as the reference keeps steps_beyond_terminated


def render(row: np.ndarray, p: CartPoleParams) -> np.ndarray:
    """The scene as Gymnasium draws it: 600x400, cart, pole, axle and track."""
    width, height = 600, 400
    scale = width / (p.x_threshold * 2)
    polewidth, polelen = 10.0, scale * (2 * p.length)
    cartwidth, cartheight = 50.0, 30.0
    image = draw.canvas(width, height)
    cartx = row[X] * scale + width / 2.0
    carty = 100.0
    l, r, t, b = -cartwidth / 2, cartwidth / 2, cartheight / 2, -cartheight / 2
    cart = np.array([(l, b), (l, t), (r, t), (r, b)]) + (cartx, carty)
    draw.fill_polygon(image, cart, (0, 0, 0))
    axleoffset = cartheight / 4.0
    l, r = -polewidth / 2, polewidth / 2
    t, b = polelen - polewidth / 2, -polewidth / 2
    pole = np.array([(l, b), (l, t), (r, t), (r, b)])
    angle = -row[THETA]
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pole = pole @ rotation.T + (cartx, carty + axleoffset)
    draw.fill_polygon(image, pole, (202, 152, 101))
    draw.fill_circle(image, cartx, carty + axleoffset, polewidth / 2, (129, 132, 203))
    draw.hline(image, carty, (0, 0, 0))
    return draw.to_image(image)


DEFINITION = from_module(
    EnvDefinition,
    __name__,
    name="CartPole",
    params_type=CartPoleParams,
    state_size=STATE_SIZE,
    apply_reset_options=low_high_reset_options,
    render_fps=50,
    reference_attributes=REFERENCE_ATTRIBUTES,
    registrations=(
        Registration("Thrust/CartPole-v1", max_episode_steps=500, reward_threshold=475.0),
        Registration("Thrust/CartPole-v0", max_episode_steps=200, reward_threshold=195.0),
    ),
)
