"""The SB3 callback that swaps a learner's training opponents (imports SB3: the league imports
this module only when it trains)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from thrust_population.matches import Policy

__all__ = ["OpponentSchedule"]


class OpponentSchedule(BaseCallback):
    """Gives the VecEnv ``policies[k]`` once ``k / len(policies)`` of ``steps`` are done
    (``set_opponent``: each game switches at its next episode boundary).

    :param venv: the learner's vs-opponent VecEnv (with ``set_opponent``), playing
        ``policies[0]`` at the start
    :param policies: the generation's training opponents, in order
    :param steps: the environment steps of the generation
    """

    def __init__(self, venv: Any, policies: Sequence[Policy], steps: int) -> None:
        super().__init__()
        self.venv = venv
        self.policies = list(policies)
        self.steps = steps
        self.current = 0
        self.start = 0

    def _on_training_start(self) -> None:
        self.start = self.model.num_timesteps

    def _on_step(self) -> bool:
        done = self.model.num_timesteps - self.start
        k = min(len(self.policies) - 1, done * len(self.policies) // self.steps)
        while self.current < k:
            self.current += 1
            self.venv.set_opponent(self.policies[self.current])
        return True
