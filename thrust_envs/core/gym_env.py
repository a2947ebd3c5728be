"""The single-environment view: a :class:`gymnasium.Env` over a one-row :class:`BatchEnv`."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.error import ClosedEnvironmentError, ResetNeeded

from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv, InvalidAction, action_array
from thrust_envs.core.definition import EnvDefinition, make_params, reset_params


class ReferenceState(np.ndarray):
    """The reference's ``state`` array as the single view hands it out: writing an element
    (``env.unwrapped.state[0] = x``) writes the env's state, as writing into the reference's
    own array does (a copy would drop the write without a word; assigning the whole attribute
    goes through the property's setter). Arrays made from it (slices, arithmetic) are
    detached: they behave as plain arrays."""

    _env: Any = None

    @classmethod
    def of(cls, value: np.ndarray, env: Any) -> ReferenceState:
        state = value.view(cls)
        state._env = env
        return state

    def __array_finalize__(self, obj: Any) -> None:
        self._env = None  # a slice or a result: not the env's state

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        if self._env is not None:
            self._env.state = self.view(np.ndarray)

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __reduce__(self) -> Any:
        return self.view(np.ndarray).__reduce__()  # pickles (and copies) as a plain array


class ThrustEnv(gym.Env):
    """One environment, stepped by the same kernels as the vector views.

    ``gymnasium.make`` adds the time limit (``TimeLimit``) from the registration, as for
    Gymnasium's own environments. Resets draw from ``self.np_random`` exactly as the reference
    environment does, so a seeded Thrust env reproduces it step for step.

    Every parameter of the environment's parameter tuple is a keyword argument.
    """

    definition: ClassVar[EnvDefinition]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        definition = self.definition
        label = self._label()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"{label}: render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        params = make_params(definition, label, kwargs)
        self._batch = BatchEnv(definition, label, 1, params, None, K.STEP_ONLY, num_threads=1)
        self.observation_space = self._batch.observation_space
        self.action_space = self._batch.action_space
        self.render_mode = render_mode
        self._discrete = self._batch._action_kind == "discrete"
        self._action = self._batch.actions
        self._reward_type = definition.reward_type
        self._closed = False
        self._finished = False
        self._warned_finished = False

    def _label(self) -> str:
        spec = getattr(self, "spec", None)
        return spec.id if spec is not None else self.definition.name

    @property
    def params(self) -> Any:
        """The environment's parameters (a NamedTuple; read-only)."""
        return self._batch.params

    # -- the reference class's attributes (gymnasium.envs.classic_control.*) ----------------

    @property
    def state(self) -> Any:
        """The state as the reference env holds it (e.g. CartPole: float64 ``[x, x_dot,
        theta, theta_dot]``), None before the first reset. Assigning it sets the row's
        state, as assigning the reference's does; the next step starts from it."""
        if not self._batch.has_reset:
            return None
        convert = self.definition.reference_state
        row = self._batch.state[0]
        value = row.copy() if convert is None else convert(row)
        if self.definition.state_from_reference is None or not isinstance(value, np.ndarray):
            return value
        return ReferenceState.of(value, self)

    @state.setter
    def state(self, value: Any) -> None:
        convert = self.definition.state_from_reference
        if convert is None:
            raise AttributeError(f"{self._label()}: state cannot be set; use set_state()")
        row = convert(value, self._batch.state[0])
        self._batch.write_state(row[None, :])
        self._finished = False

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the reference's attributes, from the params.
        definition = type(self).definition
        if "_batch" in self.__dict__:
            if name in definition.reference_attributes:
                return definition.reference_attributes[name](self._batch.params)
            if name in definition.reference_state_attributes:
                row = self._batch.state[0]
                return definition.reference_state_attributes[name](row, self._batch.params)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        definition = type(self).definition
        if name in definition.reference_attributes or name in definition.reference_state_attributes:
            fields = self.definition.params_type._fields
            field = next((f for f in (name, name.lower(), name.lstrip("_")) if f in fields), None)
            keyword = f"{field}=..." if field else f"one of {', '.join(fields)}"
            raise AttributeError(
                f"{self._label()}: {name} is read-only here (the kernels take their constants "
                f"from the parameters fixed at construction); pass it as a keyword at "
                f"construction instead: gymnasium.make({self._label()!r}, {keyword})"
            )
        super().__setattr__(name, value)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self._closed:
            raise ClosedEnvironmentError(f"{self._label()}: reset() called after close()")
        batch = self._batch
        batch.env_id = self._label()  # gymnasium.make sets the spec after construction
        params = self._reset_params(options)  # checked before anything changes
        super().reset(seed=seed)
        row = self.definition.draw_reset(self.np_random, params)
        batch.params = params
        batch.write_state(row[None, :])
        self._finished = False
        self._warned_finished = False
        return batch.obs[0].copy(), {}

    def _reset_params(self, options: dict[str, Any] | None) -> Any:
        try:
            return reset_params(self.definition, self._batch.base_params, options)
        except ValueError as error:
            raise type(error)(f"{self._label()}: reset(options={options!r}): {error}") from None

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        batch = self._batch
        if self._closed:
            raise ClosedEnvironmentError(f"{self._label()}: step() called after close()")
        if not batch.has_reset:
            raise ResetNeeded(f"{self._label()}: call reset() before step()")
        self._write_action(action)
        if self._finished and not self._warned_finished:
            gym.logger.warn(
                f"{self._label()}: step() called after the episode ended (terminated=True); "
                "call reset(): further steps are undefined behaviour."
            )
            self._warned_finished = True
        batch.step(batch.actions)
        terminated = bool(batch.terminated[0])
        self._finished = self._finished or terminated
        return batch.obs[0].copy(), self._reward_type(batch.reward[0]), terminated, False, {}

    def _write_action(self, action: Any) -> None:
        label = self._label()
        if self._discrete:
            if isinstance(action, np.ndarray):
                if action.shape != () or action.dtype.kind not in "iu":
                    raise InvalidAction(
                        f"{label}: expected an integer action in {self.action_space}, got an "
                        f"array of shape {action.shape} and dtype {action.dtype}"
                    )
            elif isinstance(action, bool) or not isinstance(action, (int, np.integer)):
                raise InvalidAction(
                    f"{label}: expected an integer action in {self.action_space}, "
                    f"got {action!r} ({type(action).__name__})"
                )
            low, high = self._batch._action_low, self._batch._action_high
            if not low <= action <= high:
                raise InvalidAction(f"{label}: action {action!r} is outside {self.action_space}")
            self._action[0] = action
        else:
            a = (
                action
                if type(action) is np.ndarray
                else action_array(
                    label, action, lambda: f"an action of shape {self.action_space.shape}"
                )
            )
            if a.dtype.kind not in "fiu" or a.shape != self.action_space.shape:
                raise InvalidAction(
                    f"{label}: expected an action of shape {self.action_space.shape} for "
                    f"{self.action_space}, got shape {a.shape} and dtype {a.dtype}"
                )
            self._action[0] = a  # the step kernel refuses non-finite values, changing nothing
            wider = a.dtype is not self._action.dtype and a.dtype.itemsize > self._action.itemsize
            self._batch.narrowed = (self._action, a) if wider else None  # (BatchEnv.step)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(
                f"{self._label()}: render() called without a render_mode; create the env with "
                "render_mode='rgb_array'"
            )
            return None
        if not self._batch.has_reset:
            raise ResetNeeded(f"{self._label()}: call reset() before render()")
        return self.definition.render(self._batch.state[0], self._batch.params)

    def close(self) -> None:
        self._closed = True
        super().close()

    def get_state(self) -> np.ndarray:
        """A copy of the internal state row (float64 ``[state_size]``)."""
        return self._batch.state[0].copy()

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Overwrite the internal state and return the matching observation."""
        row = _check_state(self._label(), state, (self.definition.state_size,))
        self._batch.write_state(row[None, :])
        self._finished = False
        return self._batch.obs[0].copy()


def _check_state(label: str, state: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(state, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{label}: expected a state of shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{label}: state must be finite")
    return array


def single_env_class(definition: EnvDefinition) -> type[ThrustEnv]:
    """The :class:`ThrustEnv` subclass for one environment (e.g. ``CartPoleEnv``)."""
    return type(
        f"{definition.name}Env",
        (ThrustEnv,),
        {
            "definition": definition,
            "metadata": {"render_modes": ["rgb_array"], "render_fps": definition.render_fps},
            "__module__": "thrust_envs.env_classes",
            "__doc__": f"Thrust's {definition.name} as a gymnasium.Env.\n\n{ThrustEnv.__doc__}",
        },
    )
