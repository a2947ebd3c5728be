"""Read-only access to a batch environment's parts, for compiled code outside this package
that fuses its own loop around the env's row functions (``thrust_algos``' fused rollout).

:func:`row_parts` hands out the env's row functions and the very arrays its step kernel
works on (not copies), so that a fused kernel stepping them leaves the env exactly where its
own ``step`` would: state, random streams, episode statistics, observations, last rewards
and flags, final observations. :func:`game_parts` does the same for a multi-agent game
(:class:`~thrust_envs.core.games.BatchGame`). They change nothing themselves.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from thrust_envs.core import games as G
from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv


@dataclasses.dataclass(frozen=True)
class RowParts:
    """One batch env's row functions, parameters and arrays (``N`` rows).

    ``step_one``: the env's row body, the step of one row that thrust_envs' own step kernels
    inline (``kernels._step_one`` bound to the env's row functions; its ``mode`` argument is
    an autoreset mode such as ``kernels.SAME_STEP``); ``module`` names the env module and
    ``source_digest`` changes with any source of ``thrust_envs`` (a cache key for kernels that
    inline the row functions). Arrays, shared with the env: ``state`` float64 ``[N, S]``,
    ``rng`` uint64 ``[N]``, ``episode`` float64 ``[N, 5]`` (needs-reset, length, return, final
    length, final return), ``obs``/``final_obs`` ``[N, *obs_shape]``, ``reward`` ``[N]``,
    ``terminated``/``truncated`` bool ``[N]``, ``actions`` (int64 ``[N]`` for Discrete, the
    space's float dtype ``[N, *shape]`` for Box). ``max_steps``: the time limit (0: none).
    """

    step_one: Any
    module: str
    source_digest: str
    action_kind: str
    params: Any
    max_steps: int
    state: np.ndarray
    rng: np.ndarray
    episode: np.ndarray
    obs: np.ndarray
    final_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    actions: np.ndarray


def row_parts(batch: Any) -> RowParts | str:
    """The :class:`RowParts` of ``batch``, a :class:`~thrust_envs.core.batch.BatchEnv` that
    autoresets in the same step (what the SB3 view runs), or a sentence saying why not."""
    if not isinstance(batch, BatchEnv):
        return f"not a Thrust BatchEnv ({type(batch).__name__})"
    if batch.autoreset_mode != K.SAME_STEP:
        return "the env does not autoreset in the same step (SB3's VecEnv contract)"
    if not batch.has_reset:
        return "the env has not been reset"
    definition = batch.definition
    return RowParts(
        step_one=_row_body(definition),
        module=definition.module,
        source_digest=K._package_digest(),
        action_kind=batch._action_kind,
        params=batch.params,
        max_steps=batch._max_steps,
        **{name: getattr(batch, name) for name in _ENV_ARRAYS},
    )


_ENV_ARRAYS = ("state", "rng", "episode", "obs", "final_obs", "reward", "terminated",
               "truncated", "actions")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class GameParts:
    """One batch game's row body, parameters and arrays (``G`` games of ``A`` agents).

    ``step_one``: the game's body (``games._game_step_one`` bound to its row functions; called
    as ``step_one(state, rng, actions, params, autoreset, max_steps, length, alive, was_alive,
    agent_return, obs, reward, terminated, truncated, final_obs, final_return, final_length,
    game_over, g)``, the final-observation copy written element by element). ``module`` and
    ``source_digest`` as :class:`RowParts`'. Arrays, shared with the game: ``state`` float64
    ``[G, S]``, ``rng`` uint64 ``[G]``, ``actions`` int64 ``[G, A, K]``, ``length`` /
    ``final_length`` int64 ``[G]``, ``alive`` / ``was_alive`` / ``terminated`` / ``truncated``
    bool ``[G, A]``, ``agent_return`` / ``final_return`` / ``reward`` float64 ``[G, A]``,
    ``obs`` / ``final_obs`` ``[G, A, *obs_shape]``, ``game_over`` bool ``[G]``.
    ``max_steps``: the game's step limit; ``autoreset``: whether finished games restart in the
    step that ends them."""

    step_one: Any
    module: str
    source_digest: str
    discrete: bool
    params: Any
    max_steps: int
    autoreset: bool
    state: np.ndarray
    rng: np.ndarray
    actions: np.ndarray
    length: np.ndarray
    alive: np.ndarray
    was_alive: np.ndarray
    agent_return: np.ndarray
    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    final_return: np.ndarray
    final_length: np.ndarray
    game_over: np.ndarray


def game_parts(game: Any) -> GameParts | str:
    """The :class:`GameParts` of ``game``, a :class:`~thrust_envs.core.games.BatchGame` that has
    been reset, or a sentence saying why not."""
    if not isinstance(game, G.BatchGame):
        return f"not a Thrust BatchGame ({type(game).__name__})"
    if not game.has_reset:
        return "the game has not been reset"
    definition = game.definition
    return GameParts(
        step_one=_row_body(definition),
        module=definition.module,
        source_digest=K._package_digest(),
        discrete=game.discrete,
        params=game.params,
        max_steps=game.max_steps,
        autoreset=game.autoreset,
        **{name: getattr(game, name) for name in _GAME_ARRAYS},
    )


_GAME_ARRAYS = ("state", "rng", "actions", "length", "alive", "was_alive", "agent_return", "obs",
                "reward", "terminated", "truncated", "final_obs", "final_return", "final_length",
                "game_over")  # fmt: skip


_bodies: dict[str, Any] = {}


def _row_body(definition: Any) -> Any:
    """The env's (``step_one``) or game's (``game_step_one``) row body for a fused kernel,
    built once per process. The final-observation copy is written element by element: the
    fused rollouts take flat observations, and a row-slice assignment would compile numba's
    shape-mismatch error path (about 1.5 s of a cold start, its string formatting included)."""
    body = _bodies.get(definition.module)
    if body is None:
        tag = K.kernel_tag(definition, "fusion")
        if isinstance(definition, G.GameDefinition):
            body = G.game_row_bodies(definition, tag, G.copy_game_obs_elements)["game_step_one"]
        else:
            body = K.row_bodies(definition, tag, K.copy_obs_elements)["step_one"]
        _bodies[definition.module] = body
    return body
