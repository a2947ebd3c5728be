"""The single-agent SB3 view: :class:`ThrustVecEnv`, ``N`` rows of one environment.

Honours SB3's VecEnv contract as ``DummyVecEnv`` over ``Monitor``-wrapped envs does: finished
environments reset in the same step, their infos carry ``terminal_observation``,
``TimeLimit.truncated`` and ``episode`` (``{"r", "l", "t"}``, as SB3's ``Monitor`` writes
it), so ``evaluate_policy`` and the ``ep_rew_mean`` log work without a ``VecMonitor``; one on
top recomputes the same statistics rather than adding to them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv, normalize_seeds, step_infos
from thrust_envs.core.definition import EnvDefinition, make_params
from thrust_envs.core.gym_env import _check_state
from thrust_envs.sb3.base import ThrustVecEnvBase, fill_episode_infos


class ThrustVecEnv(ThrustVecEnvBase):
    """SB3 ``VecEnv`` over a :class:`~thrust_envs.core.batch.BatchEnv` (made by
    :func:`thrust_envs.sb3.make_vec_env`). Observations ``[N, *obs_shape]``, rewards float32
    ``[N]``, dones bool ``[N]``, and a list of ``N`` info dicts."""

    def __init__(
        self,
        definition: EnvDefinition,
        env_id: str,
        num_envs: int,
        *,
        render_mode: str | None = None,
        num_threads: int | None = None,
        max_episode_steps: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"{env_id}: render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        params = make_params(definition, env_id, env_kwargs)
        self._batch = BatchEnv(
            definition,
            env_id,
            num_envs,
            params,
            max_episode_steps,
            K.SAME_STEP,
            num_threads,
            reward_dtype=np.float32,
        )
        self._batch.seed(None)
        self.definition = definition
        self.env_id = env_id
        self.spec = gym.spec(env_id)
        self.max_episode_steps = max_episode_steps
        self._render_mode = render_mode
        self._pending = False
        if max_episode_steps is not None:
            self.built_in_wrappers = (Monitor, gym.wrappers.TimeLimit)
        super().__init__(num_envs, self._batch.observation_space, self._batch.action_space)

    # -- the VecEnv contract -------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        if self._closed:
            self._raise_closed("reset")
        batch = self._batch
        if any(s is not None for s in self._seeds):
            batch.seed(normalize_seeds(self.env_id, self._seeds, self.num_envs))
        options = self._options[0] if self._options else {}
        if any(o != options for o in self._options):
            raise ValueError(
                f"{self.env_id}: reset options must be the same for every environment "
                "(they share their parameters); pass one dict to set_options"
            )
        batch.reset(None, options or None)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._pending = False
        return batch.obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        if self._closed:
            self._raise_closed("step_async")
        if not self._batch.has_reset:
            raise RuntimeError(f"{self.env_id}: call reset() before stepping")
        self._batch.load_actions(actions)
        self._pending = True

    def step_wait(self) -> VecEnvStepReturn:
        if not self._pending:
            raise RuntimeError(f"{self.env_id}: step_wait() called without step_async()")
        batch = self._batch
        infos = self._step_loaded()
        return batch.obs.copy(), batch.reward.copy(), batch.terminated | batch.truncated, infos

    def step_into(
        self,
        actions: np.ndarray,
        obs_out: np.ndarray,
        rew_out: np.ndarray,
        done_out: np.ndarray,
        final_obs_out: np.ndarray | None = None,
        time_limit_out: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """``step(actions)`` writing its arrays into the caller's buffers instead of new ones (for
        pinned host staging buffers a device rollout uploads from; see
        :mod:`thrust_algos.device_rollout`). The infos are ``step``'s.

        :param actions: Actions, as ``step`` takes them
        :param obs_out: Receives the observations, ``[N, *obs_shape]`` of the space's dtype
        :param rew_out: Receives the rewards, float32 ``[N]``
        :param done_out: Receives the dones, bool ``[N]``
        :param final_obs_out: Receives the last observation of every episode that ended (its
            ``terminal_observation``), like ``obs_out``; rows that did not end are left as they were
        :param time_limit_out: Receives ``TimeLimit.truncated`` (time limit, not terminated),
            bool ``[N]``
        :return: The ``N`` info dicts
        """
        obs_shape = self._batch.obs.shape
        n = (self.num_envs,)
        for name, out, shape, dtype in (
            ("obs_out", obs_out, obs_shape, self._batch.obs.dtype),
            ("rew_out", rew_out, n, np.dtype(np.float32)),
            ("done_out", done_out, n, np.dtype(np.bool_)),
            ("final_obs_out", final_obs_out, obs_shape, self._batch.obs.dtype),
            ("time_limit_out", time_limit_out, n, np.dtype(np.bool_)),
        ):
            if out is None and name in ("final_obs_out", "time_limit_out"):
                continue
            if (
                not isinstance(out, np.ndarray)
                or out.shape != shape
                or out.dtype != dtype
                or not out.flags.writeable
            ):
                raise ValueError(
                    f"{self.env_id}: step_into's {name} must be a writeable {dtype} array of "
                    f"shape {shape}, got "
                    + (
                        f"{out.dtype} {out.shape}"
                        if isinstance(out, np.ndarray)
                        else type(out).__name__
                    )
                )
        self.step_async(actions)
        infos = self._step_loaded()
        batch = self._batch
        np.copyto(obs_out, batch.obs)
        np.copyto(rew_out, batch.reward)
        np.logical_or(batch.terminated, batch.truncated, out=done_out)
        if final_obs_out is not None:
            np.copyto(
                final_obs_out,
                batch.final_obs,
                where=done_out.reshape(-1, *[1] * (batch.obs.ndim - 1)),
            )
        if time_limit_out is not None:
            np.greater(batch.truncated, batch.terminated, out=time_limit_out)
        return infos

    def _step_loaded(self) -> list[dict[str, Any]]:
        """Step the loaded actions; the step's infos (the batch holds its arrays)."""
        batch = self._batch
        batch.step(batch.actions)
        self._pending = False
        terminated, truncated = batch.terminated, batch.truncated
        dones = terminated | truncated
        # The one Python loop: SB3's API is a list of dicts, one per environment.
        infos = step_infos(self.num_envs)
        done_rows = np.flatnonzero(dones)
        if done_rows.size:
            episode = batch.episode
            fill_episode_infos(
                infos,
                done_rows.tolist(),
                batch.final_obs[done_rows],
                episode[done_rows, 4].tolist(),
                episode[done_rows, 3].astype(np.int64).tolist(),
                (truncated[done_rows] & ~terminated[done_rows]).tolist(),
                self._elapsed(),
            )
            for i in done_rows.tolist():
                self.reset_infos[i] = {}
        return infos

    def _set_params(self, attr_name: str, value: Any) -> None:
        batch = self._batch
        new = make_params(
            self.definition, self.env_id, {**batch.base_params._asdict(), attr_name: value}
        )
        batch.base_params = new
        batch.params = new

    def _row(self, index: int) -> EnvRow:
        return EnvRow(self, index)

    # -- extras ---------------------------------------------------------------------------------

    @property
    def params(self) -> Any:
        """The environments' parameters (a NamedTuple shared by all rows)."""
        return self._batch.params

    def get_state(self) -> np.ndarray:
        """A copy of the internal state, float64 ``[N, state_size]``."""
        return self._batch.state.copy()

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Overwrite every environment's state (starting new episodes); return observations."""
        self._batch.write_state(_check_state(self.env_id, state, self._batch.state.shape))
        return self._batch.obs.copy()


class EnvRow:
    """What ``get_attr``/``env_method`` see as environment ``i`` of a :class:`ThrustVecEnv`:
    the env-level attributes, the parameters by name, and per-row ``render``, ``get_state``
    and ``set_state``."""

    def __init__(self, venv: ThrustVecEnv, index: int) -> None:
        self._venv = venv
        self._index = index

    def __getattr__(self, name: str) -> Any:
        venv = self._venv
        shared = {
            "render_mode": lambda: venv.render_mode,
            "spec": lambda: venv.spec,
            "observation_space": lambda: venv.observation_space,
            "action_space": lambda: venv.action_space,
            "metadata": lambda: {
                "render_modes": ["rgb_array"],
                "render_fps": venv.definition.render_fps,
            },
            "params": lambda: venv._batch.params,
            "max_episode_steps": lambda: venv.max_episode_steps,
        }
        if name in shared:
            return shared[name]()
        if name in venv.definition.params_type._fields:
            return getattr(venv._batch.params, name)
        raise AttributeError(f"{venv.env_id} environments have no attribute {name!r}")

    def get_wrapper_attr(self, name: str) -> Any:
        return getattr(self, name)

    def render(self) -> np.ndarray:
        batch = self._venv._batch
        if not batch.has_reset:
            raise RuntimeError(f"{self._venv.env_id}: call reset() before render()")
        return self._venv.definition.render(batch.state[self._index], batch.params)

    def get_state(self) -> np.ndarray:
        return self._venv._batch.state[self._index].copy()

    def set_state(self, state: np.ndarray) -> np.ndarray:
        batch = self._venv._batch
        row = _check_state(self._venv.env_id, state, (batch.state.shape[1],))
        rows = np.zeros(batch.num_envs, dtype=np.bool_)
        rows[self._index] = True
        batch.write_state(row[None, :], rows)
        return batch.obs[self._index].copy()
