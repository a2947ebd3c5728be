"""The single-agent SB3 view: :class:`ThrustVecEnv`, ``N`` rows of one environment.

Honours SB3's VecEnv contract as ``DummyVecEnv`` over ``Monitor``-wrapped envs does: finished
environments reset in the same step, their infos carry ``terminal_observation``,
``TimeLimit.truncated`` and ``episode`` (``{"r", "l", "t"}``, as SB3's ``Monitor`` writes
it), so ``evaluate_policy`` and the ``ep_rew_mean`` log work without a ``VecMonitor``; one on
top recomputes the same statistics rather than adding to them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from numba import njit
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv, normalize_seeds, step_infos
from thrust_envs.core.definition import EnvDefinition, make_params
from thrust_envs.core.gym_env import _check_state
from thrust_envs.registration import made_spec
from thrust_envs.sb3.base import ThrustVecEnvBase, fill_episode_infos


class StepReport(NamedTuple):
    """Scratch rows a step's finished episodes are reported in (one entry per VecEnv row; a
    step of rows ``lo:hi`` uses entries ``lo:hi``, so two disjoint parts may step at once)."""

    rows: np.ndarray  # int64 [N]
    terminal_obs: np.ndarray  # [N, F], the observation space's dtype
    returns: np.ndarray  # float64 [N]
    lengths: np.ndarray  # int64 [N]
    time_limit: np.ndarray  # bool [N]


@njit(cache=True)
def single_step_report(
    dones,
    terminated,
    truncated,
    final_obs,
    episode,
    rows,
    terminal_obs,
    returns,
    lengths,
    time_limit,
):
    """One pass over a step's rows: ``dones = terminated | truncated`` (bool ``[N]``), and for
    the ``D`` done rows, in order, written to the front of the other outputs: the row index,
    its last observation (``final_obs [N, F]`` into ``terminal_obs``), its episode return and
    length (``episode`` columns 4 and 3) and whether it only hit the time limit. Returns ``D``."""
    count = 0
    for i in range(dones.shape[0]):
        done = terminated[i] or truncated[i]
        dones[i] = done
        if done:
            rows[count] = i
            for f in range(final_obs.shape[1]):
                terminal_obs[count, f] = final_obs[i, f]
            returns[count] = episode[i, 4]
            lengths[count] = np.int64(episode[i, 3])
            time_limit[count] = truncated[i] and not terminated[i]
            count += 1
    return count


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
        self.spec = made_spec(env_id, env_kwargs, max_episode_steps, render_mode)
        self.max_episode_steps = max_episode_steps
        self._render_mode = render_mode
        self._direct = K.DirectCalls()
        obs_size = int(np.prod(self._batch.obs.shape[1:], dtype=np.int64))
        self._report = StepReport(
            np.empty(num_envs, dtype=np.int64),
            np.empty((num_envs, obs_size), dtype=self._batch.obs.dtype),
            np.empty(num_envs),
            np.empty(num_envs, dtype=np.int64),
            np.empty(num_envs, dtype=np.bool_),
        )
        self._report_views: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        obs_shape = self._batch.obs.shape[1:]
        self._obs_shape = obs_shape if len(obs_shape) != 1 else None  # None: no reshape needed
        if max_episode_steps is not None:
            self.built_in_wrappers = (Monitor, gym.wrappers.TimeLimit)
        super().__init__(num_envs, self._batch.observation_space, self._batch.action_space)

    # -- the VecEnv contract -------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        if self._closed:
            self._raise_closed("reset")
        batch = self._batch
        options = self._options[0] if self._options else {}
        if any(o != options for o in self._options):
            raise ValueError(
                f"{self.env_id}: reset options must be the same for every environment "
                "(they share their parameters); pass one dict to set_options"
            )
        seeds = None
        if any(s is not None for s in self._seeds):
            seeds = normalize_seeds(self.env_id, self._seeds, self.num_envs)
        # Options checked before the streams are reseeded: a refused reset changes nothing.
        # They are this reset's only, as DummyVecEnv resets a finished env without options.
        batch.reset(None, options or None, seeds, reseed=seeds is not None, options_persist=False)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._step_pending = False
        return batch.obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        if self._closed:
            self._raise_closed("step_async")
        if not self._batch.has_reset:
            raise RuntimeError(f"{self.env_id}: call reset() before stepping")
        self._batch.load_actions(actions)
        self._step_pending = True

    def step_wait(self) -> VecEnvStepReturn:
        self._take_pending_step()
        batch = self._batch
        infos, dones = self._step_loaded()
        return batch.obs.copy(), batch.reward.copy(), dones, infos

    def step_into(
        self,
        actions: np.ndarray,
        obs_out: np.ndarray,
        rew_out: np.ndarray,
        done_out: np.ndarray,
        final_obs_out: np.ndarray | None = None,
        time_limit_out: np.ndarray | None = None,
        rows: slice | None = None,
    ) -> list[dict[str, Any]]:
        """``step(actions)`` writing its arrays into the caller's buffers instead of new ones (for
        pinned host staging buffers a device rollout uploads from; see
        :mod:`thrust_algos.device_rollout`). The infos are ``step``'s.

        With ``rows`` (a contiguous ``slice(start, stop)``), only those ``M`` environments step
        (the others keep their state); every row has its own random stream, so stepping the rows
        in parts gives what one step of all gives. One step of two disjoint parts may run on two
        threads at once (the kernel releases the GIL; double-buffered sampling).

        :param actions: Actions of the stepped rows, as ``step`` takes them (``M`` rows)
        :param obs_out: Receives the observations, ``[M, *obs_shape]`` of the space's dtype
        :param rew_out: Receives the rewards, float32 ``[M]``
        :param done_out: Receives the dones, bool ``[M]``
        :param final_obs_out: Receives the last observation of every episode that ended (its
            ``terminal_observation``), like ``obs_out``; rows that did not end are left as they were
        :param time_limit_out: Receives ``TimeLimit.truncated`` (time limit, not terminated),
            bool ``[M]``
        :param rows: The environments to step (default all)
        :return: The ``M`` info dicts
        """
        batch = self._batch
        lo, hi = self._row_range(rows)
        obs_shape = (hi - lo, *batch.obs.shape[1:])
        n = (hi - lo,)
        for name, out, shape, dtype in (
            ("obs_out", obs_out, obs_shape, batch.obs.dtype),
            ("rew_out", rew_out, n, np.dtype(np.float32)),
            ("done_out", done_out, n, np.dtype(np.bool_)),
            ("final_obs_out", final_obs_out, obs_shape, batch.obs.dtype),
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
                got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out)
                raise ValueError(
                    f"{self.env_id}: step_into's {name} must be a writeable {dtype} array of "
                    f"shape {shape}, got {got}"
                )
        if (lo, hi) == (0, self.num_envs):
            self.step_async(actions)
        else:
            self._load_row_actions(actions, lo, hi)
        infos, dones = self._step_loaded(lo, hi)
        np.copyto(obs_out, batch.obs[lo:hi])
        np.copyto(rew_out, batch.reward[lo:hi])
        terminated, truncated = batch.terminated[lo:hi], batch.truncated[lo:hi]
        np.copyto(done_out, dones)
        if final_obs_out is not None:
            where = done_out.reshape(-1, *[1] * (batch.obs.ndim - 1))
            np.copyto(final_obs_out, batch.final_obs[lo:hi], where=where)
        if time_limit_out is not None:
            np.greater(truncated, terminated, out=time_limit_out)
        return infos

    def _row_range(self, rows: slice | None) -> tuple[int, int]:
        """``(start, stop)`` of a contiguous, non-empty ``rows`` slice (None: every row)."""
        if rows is None:
            return 0, self.num_envs
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise ValueError(f"{self.env_id}: rows must be a contiguous slice, got {rows!r}")
        lo, hi, _ = rows.indices(self.num_envs)
        if hi <= lo:
            raise ValueError(
                f"{self.env_id}: rows {rows!r} select no environment of {self.num_envs}"
            )
        return lo, hi

    def _load_row_actions(self, actions: np.ndarray, lo: int, hi: int) -> None:
        """Check the actions of rows ``lo:hi`` and load them into the kernel's buffer."""
        if self._closed:
            self._raise_closed("step_into")
        batch = self._batch
        if not batch.has_reset:
            raise RuntimeError(f"{self.env_id}: call reset() before stepping")
        batch.load_actions(actions, (lo, hi))

    def _make_report_views(self, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        """:func:`single_step_report`'s arguments after ``dones`` for rows ``lo:hi``: views of
        the batch's arrays and of :attr:`_report`, made once per range (a step would spend a
        microsecond on the slices and reshapes)."""
        batch, n = self._batch, hi - lo
        views = (
            batch.terminated[lo:hi],
            batch.truncated[lo:hi],
            batch.final_obs[lo:hi].reshape(n, -1),
            batch.episode[lo:hi],
            *(scratch[lo:hi] for scratch in self._report),
        )
        self._report_views[(lo, hi)] = views
        return views

    def __getstate__(self) -> dict[str, Any]:
        # The views would unpickle as copies, no longer sharing the batch's arrays.
        return {**self.__dict__, "_report_views": {}}

    def _step_loaded(
        self, lo: int = 0, hi: int | None = None
    ) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Step the loaded actions of rows ``lo:hi`` (default all); their infos and dones (the
        batch holds their other arrays). The dones and the finished rows' reports are gathered
        in one numba pass (:func:`single_step_report`): at 64 rows the numpy version (an OR,
        ``flatnonzero`` and five fancy-indexed gathers) cost four CartPole kernel steps."""
        hi = self.num_envs if hi is None else hi
        if (lo, hi) == (0, self.num_envs):
            self._batch.step(self._batch.actions)
        else:
            self._step_rows(lo, hi)
        self._step_pending = False
        n = hi - lo
        dones = np.empty(n, dtype=np.bool_)
        views = self._report_views.get((lo, hi)) or self._make_report_views(lo, hi)
        count = self._direct(single_step_report, dones, *views)
        # The one Python loop: SB3's API is a list of dicts, one per environment.
        infos = step_infos(n)
        if count:
            rows, terminal, returns, lengths, time_limit = views[4:]
            done_rows = rows[:count].tolist()
            # rows of a new array (the scratch is reused): each info owns its observation
            terminal = terminal[:count].copy()
            if self._obs_shape is not None:
                terminal = terminal.reshape(count, *self._obs_shape)
            fill_episode_infos(
                infos,
                done_rows,
                terminal,
                returns[:count],
                lengths[:count].tolist(),
                time_limit[:count].tolist(),
                self._elapsed(),
            )
            reset_infos = self.reset_infos
            for i in done_rows:
                reset_infos[lo + i] = {}
        return infos, dones

    def _step_rows(self, lo: int, hi: int) -> None:
        """One kernel call over rows ``lo:hi``: the step's per-row arrays sliced (contiguous
        views of the same types, so the compiled entry point is the full step's)."""
        batch = self._batch
        if batch._step_entry is None:
            batch._step_entry = batch._resolve_step()
        rows, actions, *settings = batch._step_args
        part = K.RowArrays(*(array[lo:hi] for array in rows))
        status = batch._step_entry(part, actions[lo:hi], *settings)
        if status >= 0 and batch.narrowed is not None:
            status = batch.retry_narrowed(
                status, lambda: batch._step_entry(part, actions[lo:hi], *settings)
            )
        if status != K.OK:
            # Rows are numbered in the whole batch in the error, as step() numbers them.
            batch._raise_step_error(status + lo if status >= 0 else status - lo, batch.actions)

    def _params_owner(self) -> Any:
        return self._batch

    def _row(self, index: int) -> EnvRow:
        return EnvRow(self, index)

    def _has_reset(self) -> bool:
        return self._batch.has_reset

    def _row_state(self, index: int) -> np.ndarray:
        """A copy of environment ``index``'s state (``EnvRow``'s ``render``/``get_state``)."""
        return self._batch.state[index].copy()

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
    """What ``get_attr``/``env_method`` see as environment ``i`` of a single-agent SB3 view
    (:class:`ThrustVecEnv`, or the device view, :class:`thrust_envs.sb3.device.DeviceSB3VecEnv`):
    the env-level attributes, the parameters by name, and per-row ``render``, ``get_state``
    and (on the CPU) ``set_state``. The view provides ``params``, ``spec``,
    ``max_episode_steps``, ``_has_reset()`` and ``_row_state(i)``, a host copy of row ``i``'s
    state."""

    def __init__(self, venv: Any, index: int) -> None:
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
            "params": lambda: venv.params,
            "max_episode_steps": lambda: venv.max_episode_steps,
        }
        if name in shared:
            return shared[name]()
        if name in venv.definition.params_type._fields:
            return getattr(venv.params, name)
        raise AttributeError(f"{venv.env_id} environments have no attribute {name!r}")

    def get_wrapper_attr(self, name: str) -> Any:
        return getattr(self, name)

    def render(self) -> np.ndarray:
        venv = self._venv
        if not venv._has_reset():
            raise RuntimeError(f"{venv.env_id}: call reset() before render()")
        return venv.definition.render(venv._row_state(self._index), venv.params)

    def get_state(self) -> np.ndarray:
        return self._venv._row_state(self._index)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        batch = self._venv._batch
        row = _check_state(self._venv.env_id, state, (batch.state.shape[1],))
        rows = np.zeros(batch.num_envs, dtype=np.bool_)
        rows[self._index] = True
        batch.write_state(row[None, :], rows)
        return batch.obs[self._index].copy()
