"""The PettingZoo view of a multi-agent game (parallel; AEC through PettingZoo's
``parallel_to_aec``), written once for every game. The SB3 views of games (parameter sharing,
vs-opponent) are in :mod:`thrust_envs.sb3`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from thrust_envs.core.batch import InvalidAction, action_array, check_seed
from thrust_envs.core.definition import make_params
from thrust_envs.core.games import BatchGame, GameDefinition
from thrust_envs.core.human_window import HumanWindow, require_pygame

RENDER_MODES = ["human", "rgb_array"]


class GameError(RuntimeError):
    """Stepping a game that is not running (before reset, or after it ended)."""


class ThrustParallelEnv(ParallelEnv):
    """One game as a PettingZoo ``ParallelEnv`` (stepped by the same kernels as the batch views).

    Agents that die leave ``self.agents`` as PettingZoo requires; when the game ends, by its
    rules or at ``max_steps``, every remaining agent is terminated or truncated and
    ``self.agents`` becomes empty until ``reset``.

    ``render_mode``: None, ``"rgb_array"`` (``render()`` returns uint8 ``[H, W, 3]``) or
    ``"human"`` (each reset and step, and ``render()``, show the frame in a pygame window and
    return None; needs pygame, the ``render`` extra). ``state()`` is the game's state row,
    float64 ``[S]``, inside ``state_space``.
    """

    def __init__(
        self, definition: GameDefinition, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"{definition.env_id}: render_mode must be None or one of {RENDER_MODES}, "
                f"got {render_mode!r}"
            )
        if render_mode == "human":
            require_pygame(definition.env_id)
        self.definition = definition
        params = make_params(definition, definition.env_id, kwargs)
        self._game = BatchGame(definition, 1, params, autoreset=False, num_threads=1)
        self.possible_agents = list(self._game.agents)
        self.agents: list[str] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        # One space object per agent, as PettingZoo's own games build them: seeding one
        # agent's action space (PettingZoo's seed_test seeds each with its own seed) must not
        # reseed the others'.
        game = self._game
        self.observation_spaces = {
            a: copy.deepcopy(game.observation_space) for a in self.possible_agents
        }
        self.action_spaces = {a: copy.deepcopy(game.action_space) for a in self.possible_agents}
        # The state row is a float64 vector whose layout each game defines; no game declares
        # bounds for it, so the space is every finite vector of that size.
        self.state_space = spaces.Box(
            -np.inf, np.inf, shape=self._game.state.shape[1:], dtype=np.float64
        )
        self.render_mode = render_mode
        self._window = (
            HumanWindow(definition.env_id, definition.render_fps)
            if render_mode == "human"
            else None
        )
        self.metadata = {
            "render_modes": list(RENDER_MODES),
            "name": definition.module.rsplit(".", 1)[-1] + "_v0",
            "is_parallelizable": True,
            "render_fps": definition.render_fps,
        }
        self._closed = False

    @property
    def params(self) -> Any:
        return self._game.params

    def observation_space(self, agent: str):
        return self.observation_spaces[self._known(agent)]

    def action_space(self, agent: str):
        return self.action_spaces[self._known(agent)]

    def _known(self, agent: Any) -> str:
        if agent not in self._index:
            raise KeyError(
                f"{self.definition.env_id}: unknown agent {agent!r}; agents are "
                f"{self.possible_agents}"
            )
        return agent

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise GameError(f"{self.definition.env_id}: {method}() called after close()")

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start the game (seeded by ``seed`` if given); ``(observations, infos)``. A game has
        no reset options: ``options`` may be a dict (PettingZoo's api_test passes one), which
        changes nothing."""
        self._check_open("reset")
        if options is not None and not isinstance(options, dict):
            raise TypeError(
                f"{self.definition.env_id}: options must be a dict or None, got "
                f"{type(options).__name__}"
            )
        game = self._game
        if seed is not None:
            game.seed(check_seed(self.definition.env_id, seed))
        game.reset()
        self.agents = list(self.possible_agents)
        obs = {a: game.obs[0, i].copy() for i, a in enumerate(self.possible_agents)}
        if self._window is not None:
            self.render()
        return obs, self._infos(self.agents)

    def step(self, actions: dict[str, Any]):
        self._check_open("step")
        game, label = self._game, self.definition.env_id
        if not self.agents:
            raise GameError(
                f"{label}: the game is over (or was never started); call reset() before step()"
            )
        if not isinstance(actions, dict):
            raise TypeError(
                f"{label}: actions must be a dict from agent name to action, "
                f"got {type(actions).__name__}"
            )
        for agent in actions:
            if agent not in self._index:
                raise InvalidAction(
                    f"{label}: unknown agent {agent!r}; agents are {self.possible_agents}"
                )
            if agent not in self.agents:
                raise InvalidAction(
                    f"{label}: agent {agent!r} is no longer in the game; "
                    f"live agents are {self.agents}"
                )
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise InvalidAction(f"{label}: missing actions for live agent(s) {missing}")
        checked = {agent: self.check_action(agent, action) for agent, action in actions.items()}
        for agent, action in checked.items():
            game.actions[0, self._index[agent]] = action
        game.step()
        live = self.agents
        obs = {a: game.obs[0, self._index[a]].copy() for a in live}
        rewards = {a: float(game.reward[0, self._index[a]]) for a in live}
        terminations = {a: bool(game.terminated[0, self._index[a]]) for a in live}
        truncations = {a: bool(game.truncated[0, self._index[a]]) for a in live}
        infos = self._infos(live)
        self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        if self._window is not None:
            self.render()
        return obs, rewards, terminations, truncations, infos

    def check_action(self, agent: str, action: Any) -> np.ndarray:
        """``action`` of ``agent`` as int64 (``[]`` Discrete, ``[K]`` MultiDiscrete), or
        :class:`InvalidAction` naming the agent, its space and the value as given (what
        ``step`` checks for every agent before anything changes; the AEC view checks each
        agent's action at its own turn)."""
        game, label = self._game, self.definition.env_id
        space = self.action_spaces[self._known(agent)]
        expected = game.action_shape(1)[1:]

        def what() -> str:
            return "an integer" if game.discrete else f"integers of shape {expected}"

        value = action_array(label, action, lambda: f"the action of agent {agent!r} to be {what()}")
        if value.shape != expected or value.dtype.kind not in "iu":
            raise InvalidAction(
                f"{label}: the action of agent {agent!r} must be {what()} in {space}, got "
                f"{action!r}"
            )
        # Compared as Python ints: a uint64 beyond int64's range would wrap in the kernel's
        # int64 actions and be reported as a value never given.
        parts = [int(v) for v in value.reshape(-1)]
        if any(not 0 <= v < int(n) for v, n in zip(parts, game.nvec, strict=True)):
            shown = parts[0] if game.discrete else parts
            raise InvalidAction(f"{label}: action {shown} of agent {agent!r} is outside {space}")
        return value.astype(np.int64)

    def _infos(self, agents: list[str]) -> dict[str, dict[str, Any]]:
        infos: dict[str, dict[str, Any]] = {a: {} for a in agents}
        if self.definition.infos is not None:
            facts = self.definition.infos(self._game.state[0], self._game.params)
            for key, values in facts.items():
                for a in agents:
                    infos[a][key] = values[self._index[a]].item()
        return infos

    def render(self) -> np.ndarray | None:
        """The frame (``"rgb_array"``), or None after showing it (``"human"``) or without a
        render mode."""
        self._check_open("render")
        if self.render_mode is None:
            return None
        if not self._game.has_reset:
            raise GameError(f"{self.definition.env_id}: call reset() before render()")
        frame = self.definition.render(self._game.state[0], self._game.params)
        if self._window is not None:
            self._window.show(frame)
            return None
        return frame

    def state(self) -> np.ndarray:
        """The game's internal state row (float64)."""
        self._check_open("state")
        if not self._game.has_reset:
            raise GameError(f"{self.definition.env_id}: call reset() before state()")
        return self._game.state[0].copy()

    def close(self) -> None:
        """Close the window (``"human"``); ``reset``, ``step``, ``render`` and ``state`` then
        raise :class:`GameError`, as a closed Gymnasium env does. Closing twice is allowed."""
        self._closed = True
        if self._window is not None:
            self._window.close()


class CheckedParallelToAEC(parallel_to_aec_wrapper):
    """PettingZoo's ``parallel_to_aec`` wrapper, but each agent's action is checked at that
    agent's own turn: PettingZoo's stores it unchecked and steps the parallel env at the last
    agent's turn, so one bad action would be refused at another agent's call, again at every
    call after it, with the turn never coming back (only ``reset`` would recover). Here a
    refused action changes nothing and the same agent may act again."""

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            if action is not None:
                raise InvalidAction(
                    f"{self.env.definition.env_id}: agent {agent!r} is done; its action must "
                    f"be None (PettingZoo's AEC convention), got {action!r}"
                )
        else:
            self.env.check_action(agent, action)
        super().step(action)


def to_aec(parallel: ThrustParallelEnv) -> Any:
    """The AEC form of ``parallel``, as PettingZoo's ``parallel_to_aec`` builds it
    (order-enforcing), with each action checked at its agent's turn
    (:class:`CheckedParallelToAEC`)."""
    return OrderEnforcingWrapper(CheckedParallelToAEC(parallel))


def pettingzoo_constructors(
    definition: GameDefinition,
) -> tuple[Callable[..., ThrustParallelEnv], Callable[..., Any]]:
    """A game's PettingZoo entry points, ``parallel_env(**kwargs)`` and its AEC form ``env``
    (:func:`to_aec`: order-enforcing, each action checked at its agent's turn), for the game's
    ``<name>_v0`` module:
    ``parallel_env, env = pettingzoo_constructors(DEFINITION)`` and ``raw_env = env``."""

    def parallel_env(**kwargs: Any) -> ThrustParallelEnv:
        return ThrustParallelEnv(definition, **kwargs)

    def env(**kwargs: Any) -> Any:
        return to_aec(parallel_env(**kwargs))

    presets = (
        f", and ``preset`` (one of {sorted(definition.presets)}, the others overriding it)"
        if definition.presets
        else ""
    )
    parallel_env.__doc__ = (
        f"One game of {definition.name} as a PettingZoo ``ParallelEnv``; keyword arguments are "
        f":class:`{definition.params_type.__name__}` fields and ``render_mode``{presets}."
    )
    env.__doc__ = (
        "The AEC form, as PettingZoo's ``parallel_to_aec`` (order-enforcing), with each action "
        "checked at its agent's turn."
    )
    return parallel_env, env
