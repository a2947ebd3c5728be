"""Which environments exist, and their registration with Gymnasium.

Adding an environment: write its module (one file, see ``thrust_envs/classic/cartpole.py``)
and add the module's path to :data:`ENV_MODULES`.
"""

from __future__ import annotations

import importlib

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


def game_definitions() -> dict[str, GameDefinition]:
    """Every multi-agent game definition, by ID (e.g. ``"Thrust/Pong-v0"``)."""
    found = {}
    for module_name in GAME_MODULES:
        definition = importlib.import_module(module_name).DEFINITION
        found[definition.env_id] = definition
    return found


def game_lookup(env_id: str) -> GameDefinition:
    """The game behind a multi-agent Thrust ID, or a ValueError naming the known ones."""
    games = game_definitions()
    if env_id not in games:
        raise ValueError(
            f"unknown multi-agent game {env_id!r}; Thrust provides {sorted(games)}"
            + (" (that ID is a single-agent env)" if env_id in known_ids() else "")
        )
    return games[env_id]


def definitions() -> dict[str, EnvDefinition]:
    """Every environment definition, by name (e.g. ``"CartPole"``)."""
    found = {}
    for module_name in ENV_MODULES:
        definition = importlib.import_module(module_name).DEFINITION
        found[definition.name] = definition
    return found


def register_envs() -> None:
    """Register every Thrust ID with Gymnasium (idempotent)."""
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


def lookup(env_id: str) -> tuple[EnvDefinition, gym.envs.registration.EnvSpec]:
    """The definition and Gymnasium spec behind a Thrust ID (versionless IDs resolve to the
    latest version), or a ValueError naming the known IDs."""
    register_envs()
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string such as 'Thrust/CartPole-v1', got {env_id!r}")
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise ValueError(
            f"unknown environment {env_id!r}; Thrust provides {known_ids()}"
        ) from error
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    if not entry.startswith("thrust_envs.env_classes:"):
        raise ValueError(
            f"{env_id!r} is not a Thrust environment (entry point {spec.entry_point!r}); "
            f"Thrust provides {known_ids()}"
        )
    name = entry.split(":")[1].removesuffix("Env")
    return definitions()[name], spec


def known_ids() -> list[str]:
    return [reg.id for d in definitions().values() for reg in d.registrations]
