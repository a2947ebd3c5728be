"""What an environment module declares, and the parameter handling shared by every view."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces


@dataclasses.dataclass(frozen=True)
class Registration:
    """One Gymnasium ID under which an environment is registered."""

    id: str
    max_episode_steps: int | None
    reward_threshold: float | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EnvDefinition:
    """Everything the generic views need to know about one single-agent environment.

    An environment module builds exactly one of these. The numba row functions take one row
    index ``i`` of arrays that hold ``N`` environments:

    - ``step_row(state, i, action, params) -> (reward: float, terminated: bool)`` advances row
      ``i`` of ``state`` (float64, ``[N, state_size]``) in place;
    - ``reset_row(state, i, rng, params)`` draws a fresh initial state for row ``i`` from the
      row's own random stream ``rng[i]`` (see :mod:`thrust_envs.core.rng`);
    - ``observe_row(state, i, obs, params)`` writes row ``i``'s observation into ``obs[i]``.

    ``draw_reset(np_random, params, options) -> state row`` is the Python twin of
    ``reset_row`` used by the single :class:`gymnasium.Env` view: it draws from Gymnasium's
    ``np_random`` exactly as Gymnasium's reference environment does, so that seeded single
    environments reproduce the reference draw for draw.
    """

    name: str
    params_type: type[tuple]
    state_size: int
    observation_space: Callable[[Any], spaces.Space]
    action_space: Callable[[Any], spaces.Space]
    step_row: Any
    reset_row: Any
    observe_row: Any
    draw_reset: Callable[[np.random.Generator, Any, dict | None], np.ndarray]
    render: Callable[[np.ndarray, Any], np.ndarray] | None
    registrations: tuple[Registration, ...]
    module: str
    apply_reset_options: Callable[[Any, dict | None], Any] = lambda params, options: params
    check_params: Callable[[Any], None] = lambda params: None
    render_fps: int = 50
    # The Python type of the single view's reward, as the reference returns it (CartPole pays
    # a Python float, Pendulum a numpy float64): Gymnasium's env_match compares types too.
    reward_type: type = float

    @property
    def default_params(self) -> Any:
        return self.params_type()


def make_params(definition: EnvDefinition, env_id: str, kwargs: Mapping[str, Any]) -> Any:
    """Build ``definition``'s parameter tuple from keyword arguments, with clear errors.

    Every field of the parameter NamedTuple is a keyword argument of every view. Values are
    coerced to the field's declared type (``float``, ``int`` or ``bool``) so that the numba
    kernels see one stable type and never recompile.
    """
    params_type = definition.params_type
    fields = params_type._fields
    unknown = sorted(set(kwargs) - set(fields))
    if unknown:
        raise TypeError(
            f"{env_id}: unknown keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"expected some of: {', '.join(fields)}"
        )
    defaults = params_type._field_defaults
    values = {}
    for name, value in kwargs.items():
        # Every field has a default; its type (float, int or bool) is the field's type.
        values[name] = _coerce(env_id, name, value, type(defaults[name]))
    params = params_type(**values)
    definition.check_params(params)
    return params


def _coerce(env_id: str, name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise TypeError(f"{env_id}: parameter {name!r} must be a bool, got {value!r}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{env_id}: parameter {name!r} must be a {kind.__name__}, got {value!r}")
    if kind is int:
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise TypeError(f"{env_id}: parameter {name!r} must be an int, got {value!r}")
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{env_id}: parameter {name!r} must be finite, got {value!r}")
    return value


def low_high_reset_options(params: Any, options: dict | None) -> Any:
    """``apply_reset_options`` for envs whose reset draws uniformly from
    ``[reset_low, reset_high]``: Gymnasium's ``options={"low": .., "high": ..}``."""
    from gymnasium.envs.classic_control import utils

    low, high = utils.maybe_parse_reset_bounds(options, params.reset_low, params.reset_high)
    return params._replace(reset_low=float(low), reset_high=float(high))


class ParamError(ValueError):
    """A parameter value outside its valid range."""


def require(condition: bool, env_name: str, message: str) -> None:
    """Raise :class:`ParamError` naming the environment when ``condition`` is false."""
    if not condition:
        raise ParamError(f"{env_name}: {message}")


__all__ = [
    "EnvDefinition",
    "ParamError",
    "Registration",
    "low_high_reset_options",
    "make_params",
    "require",
]
