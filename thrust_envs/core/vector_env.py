"""The native Gymnasium vector view: ``gymnasium.make_vec(id, num_envs=N)``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.error import ClosedEnvironmentError, ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv, check_reset_mask_rows, normalize_seeds
from thrust_envs.core.definition import EnvDefinition, make_params
from thrust_envs.core.gym_env import _check_state

# Gymnasium's autoreset modes as the step kernels' codes (the CPU's and the device's).
KERNEL_MODES = {
    AutoresetMode.NEXT_STEP: K.NEXT_STEP,
    AutoresetMode.SAME_STEP: K.SAME_STEP,
    AutoresetMode.DISABLED: K.DISABLED,
}


def autoreset_mode_of(label: str, value: AutoresetMode | str) -> AutoresetMode:
    """``value`` as Gymnasium's ``AutoresetMode`` (the enum or its string value).

    :raises ValueError: naming the modes, for anything else
    """
    try:
        return AutoresetMode(value)
    except ValueError:
        raise ValueError(
            f"{label}: autoreset_mode must be one of {[m.value for m in AutoresetMode]}, "
            f"got {value!r}"
        ) from None


class ThrustVectorEnv(VectorEnv):
    """``num_envs`` copies of an environment stepped by one numba kernel call per step.

    :param num_envs: number of environments ``N``.
    :param max_episode_steps: truncate episodes after this many steps (``gymnasium.make_vec``
        passes the registration's value); None for no limit.
    :param autoreset_mode: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default), ``SAME_STEP``
        (``info["final_obs"]`` / ``info["final_info"]`` as Gymnasium documents) or
        ``DISABLED`` (reset finished envs with ``reset(options={"reset_mask": mask})``).
    :param render_mode: None or ``"rgb_array"``.
    :param num_threads: numba threads for large batches (default: all of numba's pool); batches
        below ``PARALLEL_MIN_ROWS`` run on the calling thread. Results do not depend on it.
    :param copy: return copies of the observation/reward/flag buffers (default, safe); False
        returns the internal buffers, which the next step overwrites.
    :param device: None (default): this class, numpy arrays on the CPU. A CUDA device
        (``gymnasium.make_vec(id, num_envs, device="cuda")``) makes the same env a
        :class:`thrust_envs.cuda.DeviceGymVectorEnv` instead: Gymnasium's API in torch tensors
        on that device (needs the ``gpu`` extra; ``num_threads`` is the CPU's alone).
    :param kwargs: the environment's parameters.

    Every environment has its own random stream: ``reset(seed=s)`` seeds environment ``i``
    with ``s + i``, and the same seed gives the same trajectories whatever ``num_threads``.
    """

    definition: ClassVar[EnvDefinition]
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": 50,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __new__(cls, *args: Any, device: Any = None, **kwargs: Any) -> Any:
        """This class for the CPU; a :class:`~thrust_envs.cuda.DeviceGymVectorEnv` of the same
        env where ``device`` is given (so ``gymnasium.make_vec``'s vector entry point, this
        class, serves both; the device class is not a subclass, so ``__init__`` is not called
        again on it)."""
        if device is None:
            return super().__new__(cls)
        if "definition" not in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: device={device!r} makes a thrust_envs.cuda.DeviceGymVectorEnv, "
                f"which a subclass of {cls.__mro__[1].__name__} would not be; make the device "
                "env with gymnasium.make_vec(id, num_envs, device=...) and wrap it instead"
            )
        if len(args) > 1:
            raise TypeError(
                f"{cls.definition.name}: with device={device!r}, pass the arguments after "
                "num_envs by keyword"
            )
        if kwargs.get("num_threads") is not None:
            raise ValueError(
                f"{cls.definition.name}: num_threads sets the CPU kernels' threads; a device "
                f"env (device={device!r}) runs one CUDA thread per row"
            )
        kwargs.pop("num_threads", None)
        try:
            from thrust_envs.cuda import DeviceGymVectorEnv
        except ImportError as error:
            raise ImportError(
                f"{cls.definition.name}: device={device!r} needs thrust_envs.cuda ({error})"
            ) from error
        return DeviceGymVectorEnv(cls.definition, *args, device=device, **kwargs)

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        num_threads: int | None = None,
        copy: bool = True,
        *,
        device: None = None,
        **kwargs: Any,
    ) -> None:
        label = self.definition.name
        autoreset_mode = autoreset_mode_of(label, autoreset_mode)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"{label}: render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        params = make_params(self.definition, label, kwargs)
        self._batch = BatchEnv(
            self.definition,
            label,
            num_envs,
            params,
            max_episode_steps,
            KERNEL_MODES[autoreset_mode],
            num_threads,
            reward_dtype=np.float32,
        )
        self._batch.seed(None)
        self.num_envs = self._batch.num_envs
        self.max_episode_steps = max_episode_steps
        self.autoreset_mode = autoreset_mode
        self._same_step = autoreset_mode is AutoresetMode.SAME_STEP
        self.render_mode = render_mode
        self.copy = bool(copy)
        self.metadata = {**type(self).metadata, "autoreset_mode": autoreset_mode}
        self.single_observation_space = self._batch.observation_space
        self.single_action_space = self._batch.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.closed = False

    @property
    def params(self) -> Any:
        """The environments' parameters (a NamedTuple shared by all rows)."""
        return self._batch.params

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all environments, or those in ``options["reset_mask"]`` (bool ``[N]``)."""
        if self.closed:
            self._raise_not_ready("reset")
        batch = self._batch
        batch.env_id = self._label()  # make_vec sets the spec after construction
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
                raise ValueError(
                    f"{self._label()}: options['reset_mask'] must be a bool array of shape "
                    f"({self.num_envs},), got dtype {mask.dtype} and shape {mask.shape}"
                )
            check_reset_mask_rows(self._label(), mask.any(), mask.all(), batch.has_reset)
        seeds = normalize_seeds(self._label(), seed, self.num_envs)
        batch.reset(mask, options or None, seeds, reseed=seeds is not None)
        if isinstance(seed, (int, np.integer)):
            super().reset(seed=int(seed))
        return self._out(batch.obs), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all environments. ``actions``: ``[N]`` ints (Discrete) or ``[N, *shape]``.

        Returns observations ``[N, *obs_shape]``, rewards float32 ``[N]``, terminated and
        truncated bool ``[N]`` and the infos (empty but for SAME_STEP's final observations).
        """
        batch = self._batch
        if self.closed or not batch.has_reset:
            self._raise_not_ready("step")
        batch.step(batch.load_actions(actions))
        infos = self._final_infos() if self._same_step else {}
        if self.copy:
            return (
                batch.obs.copy(),
                batch.reward.copy(),
                batch.terminated.copy(),
                batch.truncated.copy(),
                infos,
            )
        return batch.obs, batch.reward, batch.terminated, batch.truncated, infos

    def _final_infos(self) -> dict[str, Any]:
        batch = self._batch
        done = batch.terminated | batch.truncated
        if not done.any():
            return {}
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(done):
            final_obs[i] = batch.final_obs[i].copy()
        return {
            "final_obs": final_obs,
            "_final_obs": done,
            "final_info": {},
            "_final_info": done.copy(),
        }

    def _raise_not_ready(self, method: str) -> None:
        if self.closed:
            raise ClosedEnvironmentError(f"{self._label()}: {method}() called after close()")
        raise ResetNeeded(f"{self._label()}: call reset() before {method}()")

    def _out(self, buffer: np.ndarray) -> np.ndarray:
        return buffer.copy() if self.copy else buffer

    def _label(self) -> str:
        return self.spec.id if self.spec is not None else self.definition.name

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``rgb_array`` frame per environment."""
        if self.render_mode is None:
            return None
        batch = self._batch
        if not batch.has_reset:
            self._raise_not_ready("render")
        return tuple(
            self.definition.render(batch.state[i], batch.params) for i in range(self.num_envs)
        )

    def close_extras(self, **kwargs: Any) -> None:
        self.closed = True

    def get_state(self) -> np.ndarray:
        """A copy of the internal state, float64 ``[N, state_size]``."""
        return self._batch.state.copy()

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Overwrite every environment's state (starting new episodes) and return the
        observations."""
        array = _check_state(self._label(), state, self._batch.state.shape)
        self._batch.write_state(array)
        return self._out(self._batch.obs)


def vector_env_class(definition: EnvDefinition) -> type[ThrustVectorEnv]:
    """The :class:`ThrustVectorEnv` subclass for one environment (e.g. ``CartPoleVectorEnv``)."""
    return type(
        f"{definition.name}VectorEnv",
        (ThrustVectorEnv,),
        {
            "definition": definition,
            "metadata": {
                "render_modes": ["rgb_array"],
                "render_fps": definition.render_fps,
                "autoreset_mode": AutoresetMode.NEXT_STEP,
            },
            "__module__": "thrust_envs.env_classes",
            "__doc__": f"Thrust's {definition.name} as a native Gymnasium VectorEnv.\n\n"
            f"{ThrustVectorEnv.__doc__}",
        },
    )
