"""Tiny numpy rasteriser for ``render_mode="rgb_array"``: no pygame needed.

Coordinates follow Gymnasium's classic-control drawings: x to the right, y *up* from the
bottom of the image; :func:`to_image` flips the canvas at the end, as they do.
"""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]


def canvas(width: int, height: int, color: Color = (255, 255, 255)) -> np.ndarray:
    """A ``[height, width, 3]`` uint8 canvas filled with ``color`` (row 0 is the bottom)."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = color
    return image


def fill_polygon(image: np.ndarray, points: np.ndarray, color: Color) -> None:
    """Fill the convex polygon ``points`` (``[K, 2]`` of x, y, either winding)."""
    points = np.asarray(points, dtype=np.float64)
    height, width = image.shape[:2]
    x0 = max(int(np.floor(points[:, 0].min())), 0)
    x1 = min(int(np.ceil(points[:, 0].max())), width - 1)
    y0 = max(int(np.floor(points[:, 1].min())), 0)
    y1 = min(int(np.ceil(points[:, 1].max())), height - 1)
    if x0 > x1 or y0 > y1:
        return
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    px, py = xs + 0.5, ys + 0.5
    edges = np.roll(points, -1, axis=0) - points
    # Signed area decides the winding, so each edge's inside is on a known side.
    area = np.sum(
        points[:, 0] * np.roll(points[:, 1], -1) - np.roll(points[:, 0], -1) * points[:, 1]
    )
    sign = 1.0 if area >= 0 else -1.0
    inside = np.ones(px.shape, dtype=bool)
    for (ex, ey), (ax, ay) in zip(edges, points, strict=True):
        inside &= sign * (ex * (py - ay) - ey * (px - ax)) >= 0
    image[y0 : y1 + 1, x0 : x1 + 1][inside] = color


def fill_circle(image: np.ndarray, cx: float, cy: float, radius: float, color: Color) -> None:
    """Fill a disc centred at (cx, cy)."""
    height, width = image.shape[:2]
    x0, x1 = max(int(cx - radius) - 1, 0), min(int(cx + radius) + 1, width - 1)
    y0, y1 = max(int(cy - radius) - 1, 0), min(int(cy + radius) + 1, height - 1)
    if x0 > x1 or y0 > y1:
        return
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    inside = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius**2
    image[y0 : y1 + 1, x0 : x1 + 1][inside] = color


def hline(image: np.ndarray, y: float, color: Color) -> None:
    """A one-pixel horizontal line across the canvas at height ``y``."""
    row = int(y)
    if 0 <= row < image.shape[0]:
        image[row, :] = color


def to_image(canvas_: np.ndarray) -> np.ndarray:
    """Flip a y-up canvas into a normal top-down image (a new contiguous array)."""
    return np.ascontiguousarray(canvas_[::-1])
