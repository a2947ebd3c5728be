"""Which environments exist, and their registration with Gymnasium.

Adding an environment: write its module (one file, see ``thrust_envs/classic/cartpole.py``)
and add the module's path to :data:`ENV_MODULES`.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

from thrust_envs.core.definition import EnvDefinition

ENV_MODULES: tuple[str, ...] = (
    "thrust_envs.classic.cartpole",
    "thrust_envs.classic.pendulum",
    "thrust_envs.classic.mountain_car",
    "thrust_envs.classic.continuous_mountain_car",
    "thrust_envs.classic.acrobot",
)


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
                entry_point=f"thrust_envs.gym_envs:{definition.name}Env",
                vector_entry_point=f"thrust_envs.gym_envs:{definition.name}VectorEnv",
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
    if not entry.startswith("thrust_envs.gym_envs:"):
        raise ValueError(
            f"{env_id!r} is not a Thrust environment (entry point {spec.entry_point!r}); "
            f"Thrust provides {known_ids()}"
        )
    name = entry.split(":")[1].removesuffix("Env")
    return definitions()[name], spec


def known_ids() -> list[str]:
    return [reg.id for d in definitions().values() for reg in d.registrations]
