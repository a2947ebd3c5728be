"""Which environments exist, and their registration with Gymnasium.

Adding an environment: write its module (one file, see ``thrust_envs/classic/cartpole.py``)
and add the module's path to :data:`ENV_MODULES`; its Gymnasium, SB3 and CUDA views are built
from its definition.
Each of its IDs also needs an entry in ``thrust_envs/rl_zoo/ppo.yml`` (a test checks that the
file's entries are exactly the single-agent IDs but ``Thrust/CartPole-v0``). ``export_web``
runs it only once it has a JavaScript port (``thrust_export/web/envs/``, ``WEB_ENVS``), and
the tests' sweeps over the envs cover it only once ``tests/env_ids.py`` lists it. See
ARCHITECTURE.md, "One environment = one file".
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import gymnasium as gym

from thrust_envs.core.definition import EnvDefinition
from thrust_envs.core.games import GameDefinition

ENV_MODULES: tuple[str, ...] = (
    "thrust_envs.classic.cartpole",
    "thrust_envs.classic.pendulum",
    "thrust_envs.classic.mountain_car",
    "thrust_envs.classic.continuous_mountain_car",
    "thrust_envs.classic.acrobot",
)


GAME_MODULES: tuple[str, ...] = (
    "thrust_envs.multiagent.pong",
    "thrust_envs.multiagent.snake",
    "thrust_envs.multiagent.bucket_brigade",
)


def _definitions(modules: tuple[str, ...], key: str) -> dict[str, Any]:
    """The ``DEFINITION`` of each module, by its attribute ``key``."""
    definitions = (importlib.import_module(name).DEFINITION for name in modules)
    return {getattr(definition, key): definition for definition in definitions}


def game_definitions() -> dict[str, GameDefinition]:
    """Every multi-agent game definition, by ID (e.g. ``"Thrust/Pong-v0"``)."""
    return _definitions(GAME_MODULES, "env_id")


def resolve_id(env_id: str) -> str:
    """The registered ID that ``gymnasium.make`` would take for ``env_id``: a ``"module:"``
    prefix imported and dropped, and a versionless ID (``"Thrust/CartPole"``) resolved to its
    latest version with Gymnasium's warning. An ID that resolves to nothing is returned as
    given, for the caller's error to name.

    :raises TypeError: ``env_id`` is not a string
    :raises ModuleNotFoundError: the ``"module:"`` prefix names no importable module (as in
        ``gymnasium.make``)
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string such as 'Thrust/CartPole-v1', got {env_id!r}")
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        importlib.import_module(module)
    register_envs()
    registration = gym.envs.registration
    if env_id in registration.registry:
        return env_id
    try:
        namespace, name, version = registration.parse_env_id(env_id)
    except gym.error.Error:
        return env_id
    latest = registration.find_highest_version(namespace, name) if version is None else None
    if latest is None:
        return env_id
    resolved = registration.get_env_id(namespace, name, latest)
    gym.logger.warn(
        f"Using the latest versioned environment `{resolved}` "
        f"instead of the unversioned environment `{env_id}`."
    )
    return resolved


def game_lookup(env_id: str) -> GameDefinition:
    """The game behind a multi-agent Thrust ID (versionless IDs resolve to the latest
    version), or a ValueError naming the known ones."""
    games = game_definitions()
    resolved = resolve_id(env_id)
    if resolved not in games:
        raise ValueError(
            f"unknown multi-agent game {env_id!r}; Thrust provides {sorted(games)}"
            + (" (that ID is a single-agent env)" if resolved in known_ids() else "")
        )
    return games[resolved]


def definitions() -> dict[str, EnvDefinition]:
    """Every environment definition, by name (e.g. ``"CartPole"``)."""
    return _definitions(ENV_MODULES, "name")


def register_envs() -> None:
    """Register every Thrust ID with Gymnasium (idempotent). The games' IDs are registered
    too, with :func:`multi_agent_game` as their entry point, so that ``gym.make`` of one says
    where the game is rather than ``NameNotFound``."""
    for game_id in game_definitions():
        if game_id not in gym.registry:
            gym.register(
                id=game_id,
                entry_point=multi_agent_game,
                vector_entry_point=multi_agent_game,
                kwargs={"env_id": game_id},
            )
    for definition in definitions().values():
        for reg in definition.registrations:
            if reg.id in gym.registry:
                continue
            gym.register(
                id=reg.id,
                entry_point=f"thrust_envs.env_classes:{definition.name}Env",
                vector_entry_point=f"thrust_envs.env_classes:{definition.name}VectorEnv",
                max_episode_steps=reg.max_episode_steps,
                reward_threshold=reg.reward_threshold,
                kwargs=dict(reg.kwargs),
            )


def multi_agent_game(env_id: str, **kwargs: object) -> gym.Env:
    """The entry point of a game's ID in Gymnasium's registry: always an error that points to
    the game's views (Gymnasium's API has one agent)."""
    module = game_definitions()[env_id].module.rsplit(".", 1)[-1]
    raise gym.error.Error(
        f"{env_id} is a multi-agent PettingZoo game, not a Gymnasium env: use "
        f"thrust_envs.make_parallel({env_id!r}) or thrust_envs.multiagent.{module}_v0 "
        f"(PettingZoo), thrust_envs.sb3.make_vec_env({env_id!r}, n_envs) (an SB3 VecEnv, "
        f"one row per agent) or thrust_envs.vs_opponent({env_id!r}, opponent, n_envs)"
    )


def lookup(env_id: str) -> tuple[EnvDefinition, gym.envs.registration.EnvSpec]:
    """The definition and Gymnasium spec behind a Thrust ID (versionless IDs resolve to the
    latest version), or a ValueError naming the known IDs."""
    try:
        spec = gym.spec(resolve_id(env_id))
    except gym.error.Error as error:
        raise ValueError(
            f"unknown environment {env_id!r}; Thrust provides {known_ids()}"
        ) from error
    if spec.id in game_definitions():
        raise ValueError(
            f"{env_id!r} is a multi-agent game, not a single-agent env; Thrust's single-agent "
            f"envs are {known_ids()}"
        )
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    if not entry.startswith("thrust_envs.env_classes:"):
        raise ValueError(
            f"{env_id!r} is not a Thrust environment (entry point {spec.entry_point!r}); "
            f"Thrust provides {known_ids()}"
        )
    name = entry.split(":")[1].removesuffix("Env")
    return definitions()[name], spec


def made_spec(
    env_id: str,
    kwargs: dict[str, Any],
    max_episode_steps: int | None,
    render_mode: str | None = None,
) -> gym.envs.registration.EnvSpec | None:
    """The spec ``gym.make(env_id, max_episode_steps=..., render_mode=..., **kwargs)`` gives
    its env: the registration's, with ``kwargs`` (and a render mode) merged into its kwargs
    and the time limit in force, so that ``gym.make(spec)`` makes the same env. None for an ID
    that is not registered (an env made from a definition)."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return None
    merged = {**spec.kwargs, **kwargs}
    if render_mode is not None:
        merged["render_mode"] = render_mode
    return dataclasses.replace(spec, kwargs=merged, max_episode_steps=max_episode_steps)


def known_ids() -> list[str]:
    return [reg.id for d in definitions().values() for reg in d.registrations]
