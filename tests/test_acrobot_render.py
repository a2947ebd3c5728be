"""Acrobot's picture is Gymnasium's: the second link starts where the first one ends."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from thrust_envs.classic.acrobot import AcrobotParams, render

STATES = [(0.0, 0.0), (0.7, 0.0), (1.2, -0.9), (-2.0, 1.5), (3.0, 2.2), (-0.4, -2.8)]
SIZE = 500


def _pixel(x: float, y: float, scale: float) -> tuple[int, int]:
    """Image (row, column) of the world point (x, y) (y up, origin at the centre)."""
    offset = SIZE / 2
    return SIZE - 1 - int(y * scale + offset), int(x * scale + offset)


@pytest.mark.parametrize(("theta1", "theta2"), STATES)
def test_links_are_drawn_end_to_end(theta1: float, theta2: float) -> None:
    params = AcrobotParams()
    image = render(np.array([theta1, theta2, 0.0, 0.0]), params)
    scale = SIZE / (2 * (params.link_length_1 + params.link_length_2 + 0.2))
    # Gymnasium's picture: theta1 = 0 hangs straight down; the elbow is l1 (sin, -cos)(theta1).
    elbow = params.link_length_1 * np.array([math.sin(theta1), -math.cos(theta1)])
    hand = elbow + params.link_length_2 * np.array(
        [math.sin(theta1 + theta2), -math.cos(theta1 + theta2)]
    )
    white = np.array([255, 255, 255])
    # Up to just before each link's far end (its last pixel column may round either way).
    for start, end in ((np.zeros(2), elbow), (elbow, hand)):
        for t in np.linspace(0.0, 0.97, 40):
            row, col = _pixel(*(start + t * (end - start)), scale)
            assert not np.array_equal(image[row, col], white), (theta1, theta2, t)


@pytest.mark.parametrize(("theta1", "theta2"), STATES)
def test_picture_matches_gymnasium(theta1: float, theta2: float) -> None:
    pytest.importorskip("pygame")
    reference = gym.make("Acrobot-v1", render_mode="rgb_array").unwrapped
    reference.reset(seed=0)
    reference.state = np.array([theta1, theta2, 0.0, 0.0])
    expected = reference.render()
    reference.close()
    image = render(np.array([theta1, theta2, 0.0, 0.0]), AcrobotParams())
    assert image.shape == expected.shape
    # Antialiased edges differ; the shapes must agree.
    differs = np.abs(image.astype(int) - expected.astype(int)).max(axis=2) > 60
    assert differs.mean() < 0.005, differs.mean()
