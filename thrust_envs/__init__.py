"""thrust_envs: environments written once as numba batch kernels, with every view.

``import thrust_envs`` registers the Thrust IDs with Gymnasium:

>>> import gymnasium as gym, thrust_envs
>>> env = gym.make("Thrust/CartPole-v1")                  # a gymnasium.Env
>>> envs = gym.make_vec("Thrust/CartPole-v1", num_envs=4096)  # the native vector env

and ``thrust_envs.sb3.make_vec_env("Thrust/CartPole-v1", n_envs)`` gives a
Stable-Baselines3 ``VecEnv`` (that module imports stable_baselines3; this one does not).

The core of the package imports numpy, numba, gymnasium and PettingZoo (the games'
PettingZoo views) only: never torch, SB3 or triton.
"""

from typing import Any

from thrust_envs.core.batch import InvalidAction
from thrust_envs.core.definition import EnvDefinition, ParamError, Registration
from thrust_envs.core.game_views import GameError, ThrustParallelEnv
from thrust_envs.registration import (
    ENV_MODULES,
    GAME_MODULES,
    game_lookup,
    known_ids,
    register_envs,
)

__version__ = "0.1.0"

register_envs()


def make_parallel(env_id: str, **kwargs: Any) -> ThrustParallelEnv:
    """A multi-agent game as a PettingZoo ``ParallelEnv``, by ID (``"Thrust/Pong-v0"``)."""
    return ThrustParallelEnv(game_lookup(env_id), **kwargs)


def make_aec(env_id: str, **kwargs: Any):
    """A multi-agent game as a PettingZoo AEC env (as PettingZoo's ``parallel_to_aec``, with
    each action checked at its agent's turn)."""
    from thrust_envs.core.game_views import to_aec

    return to_aec(make_parallel(env_id, **kwargs))


def vs_opponent(
    env_id: str,
    opponent: Any,
    n_envs: int,
    seat: int | str = "alternate",
    seed: int | None = None,
    **kwargs: Any,
):
    """An SB3 ``VecEnv`` of ``n_envs`` games where the learner holds one seat per game and
    ``opponent`` plays the others, batched across games: a callable from an observation batch
    ``[k, obs_dim]`` to an action batch ``[k]`` (a scripted bot; an SB3 model's bound
    ``predict``, whose ``(actions, state)`` answer is unpacked), or an object with SB3's
    ``predict`` (an SB3 model, a thrust_export ``NumpyPolicy``), played as
    ``predict(obs, deterministic=True)``. ``seat``: an agent index, ``"alternate"`` (default) or
    ``"random"``. Swap the opponent with ``venv.set_opponent(new)``: it takes effect game by
    game at episode boundaries. Needs stable-baselines3."""
    from thrust_envs.sb3.vs_opponent import VsOpponentVecEnv

    return VsOpponentVecEnv(game_lookup(env_id), opponent, n_envs, seat=seat, seed=seed, **kwargs)


def free_for_all(
    env_id: str,
    opponents: Any,
    n_games: int,
    learner_seats: int,
    seed: int | None = None,
    **kwargs: Any,
):
    """An SB3 ``VecEnv`` of ``n_games`` games where the learner holds ``learner_seats`` seats of
    every game (one row each: parameter sharing) and ``opponents`` (a sequence of policies, as
    :func:`vs_opponent` takes) fill the others, drawn per episode and seat (see
    :class:`thrust_envs.sb3.FreeForAllVecEnv`). Needs stable-baselines3."""
    from thrust_envs.sb3.free_for_all import FreeForAllVecEnv

    return FreeForAllVecEnv(
        game_lookup(env_id), opponents, n_games, learner_seats, seed=seed, **kwargs
    )


__all__ = [
    "ENV_MODULES",
    "GAME_MODULES",
    "EnvDefinition",
    "GameError",
    "InvalidAction",
    "ParamError",
    "Registration",
    "__version__",
    "free_for_all",
    "known_ids",
    "make_aec",
    "make_parallel",
    "register_envs",
    "vs_opponent",
]
