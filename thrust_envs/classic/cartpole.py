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
from gymnasium.envs.classic_control import utils as cc_utils
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import (
    EnvDefinition,
    Registration,
    low_high_reset_options,
    require,
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


def check_params(p: CartPoleParams) -> None:
    name = "CartPole"
    require(p.masscart > 0 and p.masspole > 0, name, "masscart and masspole must be > 0")
    require(p.length > 0, name, f"length must be > 0, got {p.length}")
    require(p.tau > 0, name, f"tau must be > 0, got {p.tau}")
    require(p.x_threshold > 0 and p.theta_threshold_radians > 0, name, "thresholds must be > 0")
    require(p.reset_low <= p.reset_high, name, "reset_low must be <= reset_high")


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


def draw_reset(np_random: np.random.Generator, p: CartPoleParams, options: dict | None):
    low, high = cc_utils.maybe_parse_reset_bounds(options, p.reset_low, p.reset_high)
    row = np.zeros(STATE_SIZE)
    row[:4] = np_random.uniform(low=low, high=high, size=(4,))
    return row


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


DEFINITION = EnvDefinition(
    name="CartPole",
    params_type=CartPoleParams,
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
    render_fps=50,
    registrations=(
        Registration("Thrust/CartPole-v1", max_episode_steps=500, reward_threshold=475.0),
        Registration("Thrust/CartPole-v0", max_episode_steps=200, reward_threshold=195.0),
    ),
    module=__name__,
)
