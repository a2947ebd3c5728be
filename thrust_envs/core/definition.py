"""What an environment module declares, and the parameter handling shared by every view."""

from __future__ import annotations

import dataclasses
import math
import operator
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from gymnasium import spaces

#: The fields of a definition that an env or game module provides as functions (or values) of
#: the same name, which :func:`from_module` collects: a module names its functions after them.
MODULE_FIELDS = (
    "state_size",
    "observation_space",
    "action_space",
    "step_row",
    "reset_row",
    "observe_row",
    "draw_reset",
    "render",
    "check_params",
    "reference_state",
    "state_from_reference",
)

Definition = TypeVar("Definition")


def from_module(kind: type[Definition], module: str, **declared: Any) -> Definition:
    """The ``kind`` (:class:`EnvDefinition` or ``GameDefinition``) of ``module``: the fields
    in :data:`MODULE_FIELDS` that the module defines under their own names (``step_row``,
    ``reset_row``, ``observe_row``, ``observation_space``, ...) plus the ``declared`` ones,
    which take precedence. Called at the end of the module (``from_module(EnvDefinition,
    __name__, name=..., ...)``), when its functions exist."""
    namespace = vars(sys.modules[module])
    fields = dataclasses.fields(kind)  # type: ignore[arg-type]
    found = {
        field.name: namespace[field.name]
        for field in fields
        if field.name in MODULE_FIELDS and field.name not in declared and field.name in namespace
    }
    given = {**found, **declared, "module": module}
    missing = [
        field.name
        for field in fields
        if field.name not in given
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise TypeError(
            f"{module} neither defines nor declares {', '.join(missing)} (a {kind.__name__} "
            f"takes the module's functions named {', '.join(MODULE_FIELDS)})"
        )
    return kind(**given)


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

    ``draw_reset(np_random, params) -> state row`` is the Python twin of ``reset_row`` used
    by the single :class:`gymnasium.Env` view: it draws from Gymnasium's ``np_random``
    exactly as Gymnasium's reference environment does, so that seeded single environments
    reproduce the reference draw for draw. ``params`` are those in force for this reset
    (reset options already applied by ``apply_reset_options``).

    ``check_params`` raises :class:`ParamError` for invalid parameters: each module checks
    its ``PARAM_RANGES`` (:func:`check_ranges`) and the constraints between fields.
    """

    name: str
    params_type: type[tuple]
    state_size: int
    observation_space: Callable[[Any], spaces.Space]
    action_space: Callable[[Any], spaces.Space]
    step_row: Any
    reset_row: Any
    observe_row: Any
    draw_reset: Callable[[np.random.Generator, Any], np.ndarray]
    render: Callable[[np.ndarray, Any], np.ndarray] | None
    registrations: tuple[Registration, ...]
    module: str
    apply_reset_options: Callable[[Any, dict | None], Any] = lambda params, options: params
    check_params: Callable[[Any], None] = lambda params: None
    render_fps: int = 50
    # The Python type of the single view's reward, as the reference returns it (CartPole pays
    # a Python float, Pendulum a numpy float64): Gymnasium's env_match compares types too.
    reward_type: type = float
    # The reference class's attributes, for code written against it: ``name -> f(params)``
    # (read-only on the single view, e.g. CartPole's ``gravity``, ``x_threshold``), and its
    # ``state`` attribute: ``reference_state(row)`` in the reference's layout and type, and
    # ``state_from_reference(value, row) -> new row`` (float64 ``[state_size]``) to write it.
    reference_attributes: Mapping[str, Callable[[Any], Any]] = dataclasses.field(
        default_factory=dict
    )
    # ... and those that follow the state (Pendulum's ``last_u``): ``name -> f(row, params)``.
    reference_state_attributes: Mapping[str, Callable[[np.ndarray, Any], Any]] = dataclasses.field(
        default_factory=dict
    )
    reference_state: Callable[[np.ndarray], Any] | None = None
    state_from_reference: Callable[[Any, np.ndarray], np.ndarray] | None = None
    # Named parameter sets: ``preset=name`` among any view's keyword arguments stands for
    # that set's values, the other keywords overriding them (:func:`make_params`).
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def default_params(self) -> Any:
        return self.params_type()

    def __reduce__(self) -> tuple:
        return pickle_by_reference(self)


def parameter_attributes(*names: str) -> dict[str, Callable[[Any], Any]]:
    """``reference_attributes`` entries for reference attributes named as parameter fields:
    ``name -> params.name`` for each name (CartPole's ``gravity``, Pendulum's ``max_speed``)."""
    return {name: operator.attrgetter(name) for name in names}


def definition_by_module(module: str) -> Any:
    """The ``DEFINITION`` of an env or game module: how definitions pickle (by reference,
    like a class: they hold numba functions and lambdas, which do not pickle by value)."""
    import importlib

    return importlib.import_module(module).DEFINITION


def pickle_by_reference(definition: Any) -> tuple:
    """``__reduce__`` of a definition: checks that its module's ``DEFINITION`` is it."""
    import pickle

    try:
        found = definition_by_module(definition.module)
    except (ImportError, AttributeError):
        found = None
    if found is not definition:
        raise pickle.PicklingError(
            f"{definition.name}: a definition pickles by reference to its module's DEFINITION, "
            f"and {definition.module}.DEFINITION is not this one"
        )
    return definition_by_module, (definition.module,)


def make_params(definition: EnvDefinition, env_id: str, kwargs: Mapping[str, Any]) -> Any:
    """Build ``definition``'s parameter tuple from keyword arguments, with clear errors.

    Every field of the parameter NamedTuple is a keyword argument of every view, and so is
    ``preset`` where the definition has ``presets`` (the named set's values, overridden by the
    other keywords). Values are coerced to the field's declared type (``float``, ``int`` or
    ``bool``) so that the numba kernels see one stable type and never recompile.
    """
    params_type = definition.params_type
    fields = params_type._fields
    if "preset" in kwargs and definition.presets:
        kwargs = dict(kwargs)
        preset = kwargs.pop("preset")
        if not isinstance(preset, str) or preset not in definition.presets:
            raise ValueError(
                f"{env_id}: unknown preset {preset!r}; presets are {sorted(definition.presets)}"
            )
        kwargs = {**definition.presets[preset], **kwargs}
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
        value = int(value)
        # The kernels hold integer parameters as int64: a larger value would only fail later,
        # inside numba, with an overflow that names nothing.
        if not INT64_MIN <= value <= INT64_MAX:
            raise ParamError(
                f"{env_id}: parameter {name!r} must fit in a 64-bit signed int "
                f"[-2**63, 2**63 - 1], got {value!r}"
            )
        return value
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond the float range
        as_float = math.inf
    if not math.isfinite(as_float):
        raise ParamError(f"{env_id}: parameter {name!r} must be finite, got {value!r}")
    return as_float


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Range:
    """The valid values of one parameter: ``[low, high]``, either end open when flagged.

    Every env and game module declares a ``PARAM_RANGES: dict[str, Range]`` with one entry per
    numeric field of its parameters, checked by :func:`check_ranges` at construction."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(above and below)

    def __str__(self) -> str:
        return (
            f"{'(' if self.low_open else '['}{self.low:.12g}, "
            f"{self.high:.12g}{')' if self.high_open else ']'}"
        )


#: The smallest value a positive physical parameter (a mass, a length, a time step, a speed)
#: may take: below it the kernels' arithmetic overflows (5e-324 squared is 0, 1 / 5e-324 is
#: infinite), as the parameter fuzzing of tests/test_properties.py found.
POSITIVE_FLOOR = 1e-6


def positive(high: float, high_open: bool = False) -> Range:
    """The range ``[POSITIVE_FLOOR, high]`` of a positive physical parameter."""
    return Range(POSITIVE_FLOOR, high, high_open=high_open)


def check_ranges(env_name: str, params: Any, ranges: Mapping[str, Range]) -> None:
    """Raise :class:`ParamError` naming the first parameter outside its :class:`Range`
    (the parameter, the range and the value)."""
    for name, valid in ranges.items():
        value = getattr(params, name)
        if value not in valid:
            raise ParamError(f"{env_name}: parameter {name!r} must be in {valid}, got {value!r}")


def reset_option(options: Mapping[str, Any] | None, key: str, default: float) -> float:
    """``options[key]`` as a finite float (``default`` when absent), or a
    :class:`ParamError` naming the option."""
    if options is None or key not in options:
        return default
    value = options[key]
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        value = value[()]  # a 0-d array, as Gymnasium's float(x) takes it
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ParamError(f"reset option {key!r} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParamError(f"reset option {key!r} must be finite, got {value!r}")
    return value


def low_high_reset_options(params: Any, options: dict | None) -> Any:
    """``apply_reset_options`` for envs whose reset draws uniformly from
    ``[reset_low, reset_high]``: Gymnasium's ``options={"low": .., "high": ..}``, each a
    finite number, ``low <= high``. (The env's ``check_params`` then checks the new bounds
    against the rest of its parameters.)"""
    low = reset_option(options, "low", params.reset_low)
    high = reset_option(options, "high", params.reset_high)
    if not low <= high:
        raise ParamError(
            f"reset options need low <= high (reset_low <= reset_high), got low={low!r}, "
            f"high={high!r}"
        )
    return params._replace(reset_low=low, reset_high=high)


def state_array(env_name: str, value: Any, size: int) -> np.ndarray:
    """``value`` (an env's ``state`` as its reference holds it) as a finite float64 ``[size]``
    array, or a ``ValueError`` saying what was expected."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{env_name}: state must be {size} real numbers, got {value!r}") from None
    if array.shape != (size,):
        raise ValueError(f"{env_name}: state must have shape ({size},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{env_name}: state must be finite, got {array}")
    return array


def reset_params(definition: Any, params: Any, options: Mapping[str, Any] | None) -> Any:
    """The parameters in force after ``reset(options=options)``: the env's
    ``apply_reset_options``, then its ``check_params`` on the result (so that reset bounds
    are checked against the rest of the parameters, e.g. inside the observation space).
    Raises :class:`ParamError` before anything is changed."""
    if not options:
        return params
    new = definition.apply_reset_options(params, options)
    if new != params:
        definition.check_params(new)
    return new


class ParamError(ValueError):
    """A parameter value outside its valid range."""


def require(condition: bool, env_name: str, message: str) -> None:
    """Raise :class:`ParamError` naming the environment when ``condition`` is false."""
    if not condition:
        raise ParamError(f"{env_name}: {message}")


__all__ = [
    "EnvDefinition",
    "ParamError",
    "Range",
    "Registration",
    "check_ranges",
    "low_high_reset_options",
    "make_params",
    "require",
    "reset_option",
    "reset_params",
]
