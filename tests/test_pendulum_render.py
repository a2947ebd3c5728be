"""Pendulum's picture shows the last torque's direction, as Gymnasium's does (issue 19, item 10).

Gymnasium blits a curved-arrow image centred on the axle, scaled by ``|last_u|`` and flipped
left to right when ``last_u > 0``; Thrust draws the arrow itself, with the same conventions.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import thrust_envs  # noqa: F401  (registers the Thrust/... IDs)
from thrust_envs.classic.pendulum import HAS_U, LAST_U, STATE_SIZE, TH, PendulumParams, render

ARROW = np.array([64, 64, 64], dtype=np.uint8)


def picture(torque: float, stepped: bool = True, th: float = 0.0) -> np.ndarray:
    """The ``[500, 500, 3]`` picture of a pendulum at angle ``th`` after torque ``torque``."""
    row = np.zeros(STATE_SIZE)
    row[TH], row[LAST_U], row[HAS_U] = th, torque, float(stepped)
    return render(row, PendulumParams())


def arrow_pixels(image: np.ndarray) -> int:
    return int(np.all(image == ARROW, axis=-1).sum())


@pytest.mark.parametrize("torque", [0.5, 2.0])
def test_opposite_torques_draw_mirrored_arrows(torque):
    positive, negative = picture(torque), picture(-torque)
    assert not np.array_equal(positive, negative)  # the direction is visible
    # Upright rod: the only asymmetry is the arrow, which mirrors with the torque's sign.
    assert np.array_equal(positive, negative[:, ::-1])
    assert arrow_pixels(positive) > 0


def test_positive_torque_arrow_is_counterclockwise():
    image = picture(2.0)  # th increases under u > 0: counterclockwise on the screen
    radius = 0.4 * 500 / 4.4  # the arc's radius at full torque, in pixels
    beside_arc = radius + 2.0 * max(radius * 0.12, 1.0)  # inside the head, outside the arc

    def pixel(degrees: float) -> np.ndarray:
        x = 250 + beside_arc * np.cos(np.deg2rad(degrees))
        y_up = 250 + beside_arc * np.sin(np.deg2rad(degrees))
        return image[499 - int(y_up), int(x)]

    # The arc runs from the lower right (-45 degrees) over the top to the lower left (225):
    # counterclockwise, its head is at the lower left end.
    assert np.array_equal(pixel(228.0), ARROW)
    assert not np.array_equal(pixel(-48.0), ARROW)
    assert np.array_equal(picture(-2.0)[:, ::-1], image)  # and clockwise at the lower right


def test_arrow_size_follows_the_torque_and_is_absent_without_one():
    assert arrow_pixels(picture(0.5)) < arrow_pixels(picture(2.0))
    assert arrow_pixels(picture(0.0)) == 0
    assert arrow_pixels(picture(1.0, stepped=False)) == 0  # before the first step


def test_env_render_shows_the_last_action_sign():
    env = gym.make("Thrust/Pendulum-v1", render_mode="rgb_array")
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.0, 0.0])
    env.step(np.array([1.5], dtype=np.float32))
    after_positive = env.render()
    assert env.unwrapped.state[0] > 0  # u > 0 turned it counterclockwise
    env.unwrapped.state = np.array([0.0, 0.0])
    env.step(np.array([-1.5], dtype=np.float32))
    after_negative = env.render()
    # The rod turned by opposite angles: each picture is the other's mirror image.
    assert not np.array_equal(after_positive, after_negative)
    assert (
        np.array_equal(after_positive, after_negative[:, ::-1])
        or np.mean(after_positive != after_negative[:, ::-1]) < 1e-4
    )
