"""Gymnasium classes of every Thrust environment: ``CartPoleEnv``, ``CartPoleVectorEnv``, …

The classes are built on first access from the environment definitions (PEP 562), so the
registry's entry points (``thrust_envs.env_classes:CartPoleEnv``) and pickling by reference work
without one hand-written class per environment.
"""

from __future__ import annotations

from typing import Any

from thrust_envs.core.gym_env import single_env_class
from thrust_envs.core.vector_env import vector_env_class
from thrust_envs.registration import definitions

_classes: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name in _classes:
        return _classes[name]
    defs = definitions()
    if name.endswith("VectorEnv") and name[: -len("VectorEnv")] in defs:
        cls = vector_env_class(defs[name[: -len("VectorEnv")]])
    elif name.endswith("Env") and name[: -len("Env")] in defs:
        cls = single_env_class(defs[name[: -len("Env")]])
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _classes[name] = cls
    globals()[name] = cls
    return cls


def __dir__() -> list[str]:
    names = list(definitions())
    return sorted([f"{n}Env" for n in names] + [f"{n}VectorEnv" for n in names])
