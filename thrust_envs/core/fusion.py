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
class RowBody:
    """A row body to write into a fused kernel's loop (``kernels.rebind(template, name,
    names, inline={"step_one": body}, structs=...)``) and the names it calls."""

    body: Any
    names: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Parts:
    """What an env's and a game's parts share: ``step_one``, the row body (:class:`RowBody`)
    thrust_envs' own step kernels run; ``module``, the definition's module; ``source_digest``,
    which changes with any source of ``thrust_envs`` (a cache key for kernels that inline the
    row functions); ``params``; ``max_steps``, the step limit (0: none); ``actions``, the
    action buffer the kernels read."""

    step_one: RowBody
    module: str
    source_digest: str
    params: Any
    max_steps: int
    actions: np.ndarray


def _shared(definition: Any, params: Any, max_steps: int, actions: np.ndarray) -> dict[str, Any]:
    return {
        "step_one": _row_body(definition),
        "module": definition.module,
        "source_digest": K._package_digest(),
        "params": params,
        "max_steps": max_steps,
        "actions": actions,
    }


@dataclasses.dataclass(frozen=True)
class RowParts(_Parts):
    """One batch env's parts (``N`` rows): the :class:`_Parts` (its body written in as
    ``step_one(rows, actions, params, mode, max_steps, i)`` with an autoreset ``mode`` such as
    ``kernels.SAME_STEP``; ``actions`` int64 ``[N]`` for Discrete, the space's float dtype
    ``[N, *shape]`` for Box), ``action_kind``, and ``rows``, the env's own
    :class:`~thrust_envs.core.kernels.RowArrays`."""

    action_kind: str
    rows: K.RowArrays


def row_parts(batch: Any) -> RowParts | str:
    """The :class:`RowParts` of ``batch``, a :class:`~thrust_envs.core.batch.BatchEnv` that
    autoresets in the same step (what the SB3 view runs), or a sentence saying why not."""
    if not isinstance(batch, BatchEnv):
        return f"not a Thrust BatchEnv ({type(batch).__name__})"
    if batch.autoreset_mode != K.SAME_STEP:
        return "the env does not autoreset in the same step (SB3's VecEnv contract)"
    if not batch.has_reset:
        return "the env has not been reset"
    shared = _shared(batch.definition, batch.params, batch._max_steps, batch.actions)
    return RowParts(**shared, action_kind=batch._action_kind, rows=batch.rows)


@dataclasses.dataclass(frozen=True)
class GameParts(_Parts):
    """One batch game's parts (``G`` games of ``A`` agents): the :class:`_Parts` (its body
    written in as ``step_one(games, actions, params, autoreset, max_steps, g)``; ``actions`` int64
    ``[G, A, K]``), ``discrete``, ``autoreset`` (whether finished games restart in the step
    that ends them) and ``games``, the game's own :class:`~thrust_envs.core.games.GameArrays`."""

    discrete: bool
    autoreset: bool
    games: G.GameArrays


def game_parts(game: Any) -> GameParts | str:
    """The :class:`GameParts` of ``game``, a :class:`~thrust_envs.core.games.BatchGame` that has
    been reset, or a sentence saying why not."""
    if not isinstance(game, G.BatchGame):
        return f"not a Thrust BatchGame ({type(game).__name__})"
    if not game.has_reset:
        return "the game has not been reset"
    shared = _shared(game.definition, game.params, game.max_steps, game.actions)
    return GameParts(**shared, discrete=game.discrete, autoreset=game.autoreset, games=game.arrays)


def _row_body(definition: Any) -> RowBody:
    """The env's (``kernels._step_one``) or game's (``games._game_step_one``) row body for a
    fused kernel, with the names it calls bound as in the definition's own kernels."""
    if isinstance(definition, G.GameDefinition):
        return RowBody(body=G._game_step_one, names=G.game_row_bindings(definition))
    return RowBody(body=K._step_one, names=K.row_bindings(definition))
