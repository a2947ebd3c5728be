"""Gymnasium's ``VectorEnv`` API over a device env: ``gymnasium.make_vec(id, num_envs,
device="cuda")``.

:class:`DeviceGymVectorEnv` is what the CPU's native view (:class:`ThrustVectorEnv`) is, with a
:class:`~thrust_envs.cuda.DeviceVecEnv` instead of a numpy batch underneath: ``reset`` returns
``(observations, infos)``, ``step`` Gymnasium's five-tuple, ``metadata["autoreset_mode"]``
the mode, spaces batched by ``batch_space``; only the arrays are torch tensors on the device,
as Gymnasium's ``NumpyToTorch`` wrapper gives them. Nothing is read back to the host in a step:

- with ``autoreset_mode="SameStep"`` the infos always hold ``final_obs``, a dense tensor
  ``[N, *obs]`` (a row's last observation where ``_final_obs`` is True; elsewhere an earlier
  episode's, or zeros), ``_final_obs`` and ``_final_info`` (bool ``[N]``) and ``final_info``
  (``{}``),
  where the CPU view has an object array of the finished rows and adds the keys only in steps
  where a row finished (knowing which would read the device);
- bad actions raise :class:`~thrust_envs.core.batch.InvalidAction` as on the CPU, from the
  step that was bad with ``validate="sync"``, or with ``"lazy"`` (default) from a later call
  (see :mod:`thrust_envs.cuda.vec_env`): the bad step and any after it change nothing;
- episode statistics are counted on the device and read by :meth:`episode_statistics`.

Gymnasium's vector wrappers that compute with numpy do not take torch tensors:
``RecordEpisodeStatistics``, ``NormalizeObservation`` and ``NormalizeReward`` fail (seen under
the simulator), and those that mix numpy bounds with the actions (``ClipAction``,
``RescaleAction``) may fail on CUDA tensors. Use :meth:`episode_statistics`, normalise in
torch, or put Gymnasium's ``TorchToNumpy`` (it needs ``array-api-compat``) in between, at a
host copy a step. ``TransformObservation`` and ``TransformReward`` (a function of yours on the
tensors) and ``ClipReward`` (``Tensor.clip``) work. The view is not picklable (its tensors
and kernels); the CPU view is.

``thrust_algos.PPO`` trains on it as on the device env (:meth:`as_sb3_vec_env`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.error import ClosedEnvironmentError, ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from thrust_envs.core.definition import EnvDefinition
from thrust_envs.cuda.vec_env import DeviceVecEnv, EpisodeStatistics

__all__ = ["DeviceGymVectorEnv"]


class DeviceGymVectorEnv(VectorEnv):
    """``num_envs`` rows of one Thrust env on a CUDA device, as a Gymnasium ``VectorEnv``.

    :param env_id: a Thrust ID (``"Thrust/CartPole-v1"``), or an env's definition (what
        ``gymnasium.make_vec`` passes, through the env's VectorEnv class; errors are then
        labelled by its name until the first reset, which takes the ID from ``spec``)
    :param num_envs: number of environments ``N``
    :param device: a CUDA device (``"cuda"``, ``"cuda:1"``, a ``torch.device``); under
        ``NUMBA_ENABLE_CUDASIM=1``, ``"cpu"``
    :param max_episode_steps: truncate episodes after this many steps, None for no limit;
        ``"registered"`` (the default) the ID's limit, none for a definition (as the CPU
        class, whose caller ``gymnasium.make_vec`` passes the limit)
    :param autoreset_mode: Gymnasium's ``AutoresetMode`` (or its value)
    :param render_mode: None or ``"rgb_array"`` (frames drawn on the host from a copy of the
        state)
    :param copy: return copies of the observation buffer (default, safe); False returns the
        env's own tensor, which the next step overwrites. Rewards and flags are always copies,
        as in Gymnasium's ``SyncVectorEnv``
    :param validate: ``"lazy"`` or ``"sync"`` (see the module)
    :param cuda_graph: replay the step's kernels from a CUDA graph (see
        :class:`~thrust_envs.cuda.DeviceVecEnv`)
    :param kwargs: the environment's parameters

    Row ``i`` is seeded from ``seed + i`` by ``reset(seed=seed)``, as on the CPU; under the
    simulator every output equals the CPU view's (``tests/cuda_sim_gym_vector.py``).
    """

    def __init__(
        self,
        env_id: str | EnvDefinition,
        num_envs: int = 1,
        device: Any = "cuda",
        max_episode_steps: int | str | None = "registered",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        copy: bool = True,
        validate: str = "lazy",
        cuda_graph: bool = True,
        **kwargs: Any,
    ) -> None:
        self._env = DeviceVecEnv(env_id, num_envs, device, autoreset_mode, max_episode_steps,
                                 validate, cuda_graph, **kwargs)  # fmt: skip
        definition = self._env.definition
        self.metadata = {
            "render_modes": ["rgb_array"],
            "render_fps": definition.render_fps,
            "autoreset_mode": self._env.autoreset_mode,
        }
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"{self._env.label}: render_mode must be one of "
                f"{self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        if not isinstance(copy, bool):
            raise TypeError(f"{self._env.label}: copy must be True or False, got {copy!r}")
        self.definition = definition
        self.num_envs = self._env.num_envs
        self.device = self._env.device
        self.max_episode_steps = self._env.max_episode_steps
        self.autoreset_mode = self._env.autoreset_mode
        self.render_mode = render_mode
        self.copy = copy
        self.single_observation_space = self._env.single_observation_space
        self.single_action_space = self._env.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.closed = False

    @property
    def device_env(self) -> DeviceVecEnv:
        """The device env underneath (its tensors, ``step_path``, ``check()``)."""
        return self._env

    @property
    def params(self) -> Any:
        """The environments' parameters (a NamedTuple shared by all rows)."""
        return self._env.params

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset all environments, or those of ``options["reset_mask"]`` (bool ``[N]``, a tensor
        or an array). Returns the observations ``[N, *obs]`` float32 and ``{}``."""
        if self.closed:
            raise ClosedEnvironmentError(f"{self._label()}: reset() called after close()")
        self._env.label = self._label()  # make_vec sets the spec after construction
        observations = self._env.reset(seed=seed, options=options)
        if isinstance(seed, (int, np.integer)):
            super().reset(seed=int(seed))
        return self._out(observations), {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Step all environments. ``actions``: ``[N]`` integers (Discrete) or ``[N, *shape]``
        reals, a tensor (best on the env's device) or an array.

        Returns observations ``[N, *obs]`` float32, rewards float32 ``[N]``, terminated and
        truncated bool ``[N]`` (tensors on the device) and the infos (see the module).
        """
        if self.closed:
            raise ClosedEnvironmentError(f"{self._label()}: step() called after close()")
        if not self._env.has_reset:
            raise ResetNeeded(f"{self._label()}: call reset() before step()")
        observations, rewards, terminations, truncations = self._env.step(actions)
        infos: dict[str, Any] = {}
        if self.autoreset_mode is AutoresetMode.SAME_STEP:
            done = terminations | truncations
            infos = {
                "final_obs": self._env.final_obs.clone(),
                "_final_obs": done,
                "final_info": {},
                "_final_info": done.clone(),
            }
        return (
            self._out(observations),
            rewards.clone(),
            terminations.clone(),
            truncations.clone(),
            infos,
        )

    def episode_statistics(self) -> EpisodeStatistics:
        """Episodes finished since the last call: their number, mean return and mean length
        (one host read; clears the counts)."""
        return self._env.episode_statistics()

    def as_sb3_vec_env(self, seed: int | None = None) -> Any:
        """The device env as a Stable-Baselines3 ``VecEnv`` (what ``thrust_algos.PPO`` trains
        on without leaving the device; needs ``autoreset_mode="SameStep"``)."""
        return self._env.as_sb3_vec_env(seed)

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``rgb_array`` frame per environment (drawn on the host)."""
        if self.render_mode is None:
            return None
        if not self._env.has_reset:
            raise ResetNeeded(f"{self._label()}: call reset() before render()")
        self._env.check()
        state = self._env.state.cpu().numpy()
        return tuple(self.definition.render(row, self._env.params) for row in state)

    def close_extras(self, **kwargs: Any) -> None:
        self.closed = True
        self._env.close()

    def _out(self, tensor: Any) -> Any:
        return tensor.clone() if self.copy else tensor

    def _label(self) -> str:
        return self.spec.id if self.spec is not None else self._env.label
