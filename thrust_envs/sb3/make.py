"""``make_vec_env``: an SB3 ``VecEnv`` by Thrust ID (env or game), and the game views'
factories."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from thrust_envs.core.games import GameDefinition
from thrust_envs.registration import game_definitions, lookup
from thrust_envs.sb3.shared import SharedGameVecEnv
from thrust_envs.sb3.single import ThrustVecEnv
from thrust_envs.sb3.vs_opponent import Policy, VsOpponentVecEnv


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    *,
    render_mode: str | None = None,
    num_threads: int | None = None,
    max_episode_steps: int | None = None,
    **env_kwargs: Any,
) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies of a Thrust environment, one kernel call a step.

    Args:
        env_id: a Thrust ID such as ``"Thrust/CartPole-v1"``.
        n_envs: number of environments.
        seed: if given, environment ``i`` is seeded with ``seed + i`` at the first reset (as
            SB3's ``make_vec_env`` does).
        render_mode: None or ``"rgb_array"``.
        num_threads: numba threads for large batches (default: numba's pool size). Results do
            not depend on it.
        max_episode_steps: override the registration's time limit.
        **env_kwargs: the environment's parameters (e.g. ``gravity=9.8`` for CartPole).

    For a multi-agent game (``"Thrust/Pong-v0"``) ``n_envs`` is the number of games and the
    VecEnv has one row per (game, agent), for parameter sharing (:class:`SharedGameVecEnv`).
    """
    if isinstance(env_id, str) and env_id in game_definitions():
        if render_mode is not None or max_episode_steps is not None:
            raise ValueError(
                f"{env_id}: render_mode and max_episode_steps are not options of the "
                "multi-agent VecEnv (the game's max_steps parameter sets its time limit)"
            )
        return SharedGameVecEnv(
            game_definitions()[env_id], n_envs, seed=seed, num_threads=num_threads, **env_kwargs
        )
    definition, spec = lookup(env_id)
    steps = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
    env = ThrustVecEnv(
        definition,
        spec.id,
        n_envs,
        render_mode=render_mode,
        num_threads=num_threads,
        max_episode_steps=steps,
        **{**spec.kwargs, **env_kwargs},
    )
    if seed is not None:
        env.seed(seed)
    return env


def make_shared_vec_env(
    definition: GameDefinition,
    n_games: int,
    seed: int | None = None,
    num_threads: int | None = None,
    **kwargs: Any,
) -> SharedGameVecEnv:
    """The parameter-sharing VecEnv of a game definition: ``n_games * A`` rows (see
    :class:`SharedGameVecEnv`; by ID: :func:`make_vec_env`)."""
    return SharedGameVecEnv(definition, n_games, seed=seed, num_threads=num_threads, **kwargs)


def make_vs_opponent(
    definition: GameDefinition,
    opponent: Policy,
    n_envs: int,
    seat: int | str = "alternate",
    seed: int | None = None,
    num_threads: int | None = None,
    **kwargs: Any,
) -> VsOpponentVecEnv:
    """The vs-opponent VecEnv of a game definition (see :class:`VsOpponentVecEnv`; by ID:
    :func:`thrust_envs.vs_opponent`)."""
    return VsOpponentVecEnv(
        definition, opponent, n_envs, seat=seat, seed=seed, num_threads=num_threads, **kwargs
    )
