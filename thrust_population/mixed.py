"""Mixed games: several policies sharing the board of one free-for-all game, scored per policy.

::

    from thrust_envs.multiagent.snake import greedy_bot, random_bot
    from thrust_population.mixed import play_mixed

    returns = play_mixed(
        "Thrust/Snake-v0",
        {"greedy": greedy_bot(0), "random": random_bot(1)},
        ["greedy", "random", "greedy", "random"],
        games=500,
    )
    {name: r.mean() for name, r in returns.items()}  # mean episode return per snake

A *lineup* names the player of each seat. Seats need not be equivalent (placement order,
tie-breaking), so the lineup is played in every distinct rotation of its seats (``[a, b, a, b]``:
itself and ``[b, a, b, a]``), each rotation on the same seeded games (common random numbers:
game ``k`` of every rotation starts from the same board), and each player's results are pooled
over its seats. Games are played through :func:`thrust_population.teams.play_team`, all games of
a rotation at once in the shared SB3 VecEnv.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from thrust_population.matches import Policy, positive_int
from thrust_population.teams import play_team

__all__ = ["play_mixed", "rotations"]


def rotations(lineup: Sequence[str]) -> list[list[str]]:
    """The distinct cyclic rotations of ``lineup``, in order of the shift (the lineup first):
    ``[a, b, a, b]`` gives ``[[a, b, a, b], [b, a, b, a]]``."""
    lineup = list(lineup)
    seen: list[list[str]] = []
    for shift in range(len(lineup)):
        rotated = lineup[shift:] + lineup[:shift]
        if rotated not in seen:
            seen.append(rotated)
    return seen


def play_mixed(
    env_id: str,
    players: Mapping[str, Policy],
    lineup: Sequence[str],
    games: int,
    *,
    n_envs: int | None = None,
    seed: int = 0,
    **env_kwargs: Any,
) -> dict[str, np.ndarray]:
    """Play ``games`` games of ``env_id`` in each rotation of ``lineup`` and return every
    player's agent-episode returns.

    :param env_id: a thrust_envs multi-agent game, e.g. ``"Thrust/Snake-v0"``
    :param players: policies by name (callables from an observation batch ``[k, *obs]`` to an
        action batch ``[k, *act]``); every one must appear in ``lineup``
    :param lineup: the player of each seat, ``A`` names (``A`` the game's number of agents)
    :param games: games per rotation
    :param n_envs: games played at once (see :func:`~thrust_population.teams.play_team`)
    :param seed: the games' seed, the same for every rotation
    :param env_kwargs: the game's parameters
    :return: ``{name: returns}``, ``returns`` of shape ``[R * games * seats_of_name]`` (``R``
        rotations): rotation by rotation, game by game, that player's seats in seat order
    """
    games = positive_int("games", games)
    lineup = list(lineup)
    if not lineup:
        raise ValueError("the lineup names no player")
    unknown = sorted({name for name in lineup if name not in players})
    if unknown:
        raise ValueError(f"lineup names unknown players {unknown}; players: {sorted(players)}")
    unused = sorted(set(players) - set(lineup))
    if unused:
        raise ValueError(f"players {unused} have no seat in the lineup {lineup}")
    collected: dict[str, list[np.ndarray]] = {name: [] for name in players}
    for rotated in rotations(lineup):
        returns = play_team(
            env_id,
            [players[name] for name in rotated],
            games,
            n_envs=n_envs,
            seed=seed,
            **env_kwargs,
        )
        for name in players:
            seats = [a for a, seated in enumerate(rotated) if seated == name]
            collected[name].append(returns[:, seats].reshape(-1))
    return {name: np.concatenate(parts) for name, parts in collected.items()}
