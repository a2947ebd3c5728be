"""Teams in cooperative games: one policy per seat, scored by the team's return.

::

    from thrust_envs.multiagent.bucket_brigade import hero_bot, free_rider_bot
    from thrust_population.teams import evaluate_teams

    hero, rider = hero_bot(), free_rider_bot()
    table = evaluate_teams(
        "Thrust/BucketBrigade-v0",
        {"heroes": [hero] * 4, "one free rider": [rider, hero, hero, hero]},
        games=1000,
    )
    print(table.format())

A cooperative game such as Bucket Brigade has no opponent to rate against: a team (a policy for
each seat) is scored by its *team return*, the sum of its agents' episode returns. Games are
played many at once through the shared SB3 VecEnv of ``thrust_envs`` (rows ``g * A + a``: agent
``a`` of game ``g``), each seat's policy called once per step on the observations of that seat
in every game. Every team of an evaluation plays the same seeded games (common random numbers),
and each of the ``n_envs`` game slots plays a fixed quota of episodes, so short episodes are
not over-represented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thrust_population.ladder import format_table
from thrust_population.matches import Policy, positive_int

__all__ = ["TeamRow", "TeamTable", "evaluate_teams", "play_team"]


def _game_definition(env_id: str) -> Any:
    from thrust_envs.registration import game_definitions

    games = game_definitions()
    if env_id not in games:
        raise ValueError(
            f"unknown multi-agent game {env_id!r}; thrust_envs' games: {sorted(games)}"
        )
    return games[env_id]


def play_team(
    env_id: str,
    seats: Sequence[Policy],
    games: int,
    *,
    n_envs: int | None = None,
    seed: int = 0,
    **env_kwargs: Any,
) -> np.ndarray:
    """Play ``games`` games of ``env_id`` with ``seats[a]`` in seat ``a`` of every game.

    :param env_id: a thrust_envs multi-agent game, e.g. ``"Thrust/BucketBrigade-v0"``
    :param seats: one policy per seat (a callable from an observation batch ``[k, *obs]`` to an
        action batch ``[k, *act]``; the same object in several seats is called once per step)
    :param games: the number of games
    :param n_envs: games played at once (default ``min(games, 256)``); game slot ``i`` plays
        ``games // n_envs`` games, plus one if ``i < games % n_envs``
    :param seed: the VecEnv's seed (game slot ``i``: ``seed + i``)
    :param env_kwargs: the game's parameters
    :return: every game's agent returns, ``[games, A]`` (slot by slot, in episode order)
    """
    definition = _game_definition(env_id)
    games = positive_int("games", games)
    n_envs = min(games, 256) if n_envs is None else min(positive_int("n_envs", n_envs), games)
    seats = list(seats)
    from thrust_envs.core.definition import make_params
    from thrust_envs.sb3 import make_vec_env

    n_agents = definition.num_agents(make_params(definition, env_id, env_kwargs))
    if len(seats) != n_agents:
        raise ValueError(f"{env_id} has {n_agents} seats; got {len(seats)} policies")
    for a, policy in enumerate(seats):
        if not callable(policy):
            raise TypeError(f"seat {a}: a policy must be callable, got {type(policy).__name__}")
    # seats played by the same policy object share one call per step
    groups: dict[int, tuple[Policy, list[int]]] = {}
    for a, policy in enumerate(seats):
        groups.setdefault(id(policy), (policy, []))[1].append(a)

    quota = np.full(n_envs, games // n_envs, dtype=np.int64)
    quota[: games % n_envs] += 1
    venv = make_vec_env(env_id, n_envs, seed=seed, **env_kwargs)
    try:
        obs = venv.reset()
        rows = np.arange(n_envs * n_agents).reshape(n_envs, n_agents)
        episode = np.zeros((n_envs, n_agents))  # the current episode's returns, slot by seat
        finished = np.zeros((n_envs, n_agents), dtype=bool)
        results: list[list[np.ndarray]] = [[] for _ in range(n_envs)]
        played = np.zeros(n_envs, dtype=np.int64)
        actions = np.zeros((n_envs * n_agents, *venv.action_space.shape), dtype=np.int64)
        while (played < quota).any():
            for policy, where in groups.values():
                index = rows[:, where].reshape(-1)
                actions[index] = np.asarray(policy(obs[index])).reshape(
                    len(index), *venv.action_space.shape
                )
            obs, _, dones, infos = venv.step(actions)
            for row in np.flatnonzero(dones).tolist():
                g, a = divmod(row, n_agents)
                episode[g, a] = infos[row]["episode"]["r"]
                finished[g, a] = True
            for g in np.flatnonzero(finished.all(axis=1)).tolist():
                if played[g] < quota[g]:
                    results[g].append(episode[g].copy())
                    played[g] += 1
                finished[g] = False
    finally:
        venv.close()
    return np.array([r for slot in results for r in slot])


@dataclass(frozen=True)
class TeamRow:
    """One team's scores.

    Attributes:
        name: the team's name
        team_return: mean team return per game
        interval: the 95% interval of that mean (normal approximation)
        agent_returns: each seat's mean return, ``[A]``
        games: games played
    """

    name: str
    team_return: float
    interval: tuple[float, float]
    agent_returns: tuple[float, ...]
    games: int


@dataclass(frozen=True)
class TeamTable:
    """The teams of an evaluation, best mean team return first."""

    env_id: str
    rows: list[TeamRow]

    def format(self) -> str:
        seats = len(self.rows[0].agent_returns) if self.rows else 0
        header = ["team", "team return", "95% interval", "games"]
        header += [f"seat {a}" for a in range(seats)]
        lines = [
            [
                row.name,
                f"{row.team_return:.2f}",
                f"[{row.interval[0]:.2f}, {row.interval[1]:.2f}]",
                str(row.games),
                *(f"{r:.2f}" for r in row.agent_returns),
            ]
            for row in self.rows
        ]
        return format_table(header, lines, right=tuple(range(1, len(header))))


def evaluate_teams(
    env_id: str,
    teams: Mapping[str, Sequence[Policy]],
    games: int,
    *,
    n_envs: int | None = None,
    seed: int = 0,
    **env_kwargs: Any,
) -> TeamTable:
    """Play ``games`` games with each team (the same seeded games for all) and rank the teams by
    mean team return; see :func:`play_team` for the arguments."""
    if not teams:
        raise ValueError("no teams to evaluate")
    rows = []
    for name, seats in teams.items():
        returns = play_team(env_id, seats, games, n_envs=n_envs, seed=seed, **env_kwargs)
        team = returns.sum(axis=1)
        mean = float(team.mean())
        half = 1.96 * float(team.std(ddof=1)) / math.sqrt(len(team)) if len(team) > 1 else math.nan
        rows.append(
            TeamRow(
                name=str(name),
                team_return=mean,
                interval=(mean - half, mean + half),
                agent_returns=tuple(float(r) for r in returns.mean(axis=0)),
                games=len(team),
            )
        )
    rows.sort(key=lambda row: -row.team_return)
    return TeamTable(env_id, rows)
