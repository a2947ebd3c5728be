"""``render_mode="human"``: frames shown in a pygame window, as Gymnasium's classic-control
and PettingZoo's own environments show theirs.

pygame is optional (the ``render`` extra) and imported only when an env is made with
``render_mode="human"``. Without a display SDL picks its ``offscreen`` driver, so human mode
runs headless (in CI, under ``pettingzoo.test.render_test``) and shows nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.error import DependencyNotInstalled


def require_pygame(label: str) -> None:
    """Raise ``DependencyNotInstalled`` naming the extra if pygame is missing."""
    try:
        import pygame  # noqa: F401
    except ImportError as error:
        raise DependencyNotInstalled(
            f'{label}: render_mode="human" needs pygame; pip install "thrust-rl[render]" '
            '(or use render_mode="rgb_array")'
        ) from error


class HumanWindow:
    """A window that shows uint8 ``[H, W, 3]`` frames at ``fps`` frames per second, opened at
    the first frame. Pickles as its title and rate (the window itself is not carried)."""

    def __init__(self, title: str, fps: float) -> None:
        self.title = title
        self.fps = fps
        self._screen: Any = None
        self._clock: Any = None

    def show(self, frame: np.ndarray) -> None:
        import pygame

        height, width = frame.shape[:2]
        if self._screen is None or self._screen.get_size() != (width, height):
            pygame.display.init()
            pygame.display.set_caption(self.title)
            self._screen = pygame.display.set_mode((width, height))
            self._clock = pygame.time.Clock()
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
        self._screen.blit(surface, (0, 0))
        pygame.event.pump()  # keeps the window responsive
        pygame.display.flip()
        self._clock.tick(self.fps)

    def close(self) -> None:
        if self._screen is not None:
            import pygame

            pygame.display.quit()
            self._screen = self._clock = None

    def __getstate__(self) -> dict[str, Any]:
        return {"title": self.title, "fps": self.fps}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["title"], state["fps"])
