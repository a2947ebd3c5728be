"""The mountain-car picture, shared by MountainCar and MountainCarContinuous."""

from __future__ import annotations

import math

import numpy as np

from thrust_envs.core import render as draw


def _height(xs):
    return np.sin(3 * xs) * 0.45 + 0.55


def render(position: float, min_position: float, max_position: float, goal: float) -> np.ndarray:
    """600x400: the hill, the car on it and the goal flag, as Gymnasium draws them."""
    width, height = 600, 400
    scale = width / (max_position - min_position)
    image = draw.canvas(width, height)
    xs = np.linspace(min_position, max_position, width)
    ys = _height(xs) * scale
    columns = np.arange(width)
    for x, y in zip(columns, ys.astype(int), strict=True):
        image[max(y - 1, 0) : y + 1, x] = (0, 0, 0)
    carwidth, carheight, clearance = 40.0, 20.0, 10.0
    angle = math.cos(3 * position)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    origin = np.array([(position - min_position) * scale, clearance + _height(position) * scale])
    l, r, t, b = -carwidth / 2, carwidth / 2, carheight, 0.0
    body = np.array([(l, b), (l, t), (r, t), (r, b)]) @ rotation.T + origin
    draw.fill_polygon(image, body, (0, 0, 0))
    for wheel_x in (carwidth / 4, -carwidth / 4):
        centre = np.array([wheel_x, 0.0]) @ rotation.T + origin
        draw.fill_circle(image, centre[0], centre[1], carheight / 2.5, (128, 128, 128))
    flagx = (goal - min_position) * scale
    flagy1 = _height(goal) * scale
    flagy2 = flagy1 + 50
    draw.fill_polygon(
        image,
        np.array(
            [(flagx - 1, flagy1), (flagx - 1, flagy2), (flagx + 1, flagy2), (flagx + 1, flagy1)]
        ),
        (0, 0, 0),
    )
    draw.fill_polygon(
        image,
        np.array([(flagx, flagy2), (flagx, flagy2 - 10), (flagx + 25, flagy2 - 5)]),
        (204, 204, 0),
    )
    return draw.to_image(image)
