"""The Stable-Baselines3 view: ``make_vec_env(env_id, n_envs)`` returns an SB3 ``VecEnv``.

This module imports stable_baselines3 (install the ``algos`` extra); ``import thrust_envs``
does not import it.

Honours SB3's VecEnv contract as ``DummyVecEnv`` over ``Monitor``-wrapped envs does: finished
environments reset in the same step, their infos carry ``terminal_observation``,
``TimeLimit.truncated`` and ``episode`` (``{"r", "l", "t"}``, as SB3's ``Monitor`` writes
it), so ``evaluate_policy`` and the ``ep_rew_mean`` log work without a ``VecMonitor``; one on
top recomputes the same statistics rather than adding to them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv, normalize_seeds, step_infos
from thrust_envs.core.definition import EnvDefinition, make_params
from thrust_envs.core.gym_env import _check_state
from thrust_envs.registration import game_definitions, lookup


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    *,
    render_mode: str | None = None,
    num_threads: int | None = None,
    max_episode_steps: int | None = None,
    **env_kwargs: Any,
) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies of a Thrust environment, one kernel call a step.

    Args:
        env_id: a Thrust ID such as ``"Thrust/CartPole-v1"``.
        n_envs: number of environments.
        seed: if given, environment ``i`` is seeded with ``seed + i`` at the first reset (as
            SB3's ``make_vec_env`` does).
        render_mode: None or ``"rgb_array"``.
        num_threads: numba threads for large batches (default: numba's pool size). Results do
            not depend on it.
        max_episode_steps: override the registration's time limit.
        **env_kwargs: the environment's parameters (e.g. ``gravity=9.8`` for CartPole).

    For a multi-agent game (``"Thrust/Pong-v0"``) ``n_envs`` is the number of games and the
    VecEnv has one row per (game, agent), for parameter sharing.
    """
    if isinstance(env_id, str) and env_id in game_definitions():
        # A multi-agent game: parameter sharing, one row per (game, agent); n_envs games.
        from thrust_envs.core.game_views import make_shared_vec_env

        if render_mode is not None or max_episode_steps is not None:
            raise ValueError(
                f"{env_id}: render_mode and max_episode_steps are not options of the "
                "multi-agent VecEnv (the game's max_steps parameter sets its time limit)"
            )
        return make_shared_vec_env(
            game_definitions()[env_id], n_envs, seed=seed, num_threads=num_threads, **env_kwargs
        )
    definition, spec = lookup(env_id)
    steps = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
    env = ThrustVecEnv(
        definition,
        spec.id,
        n_envs,
        render_mode=render_mode,
        num_threads=num_threads,
        max_episode_steps=steps,
        **{**spec.kwargs, **env_kwargs},
    )
    if seed is not None:
        env.seed(seed)
    return env


class ThrustVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a :class:`~thrust_envs.core.batch.BatchEnv` (see
    :func:`make_vec_env`). Observations ``[N, *obs_shape]``, rewards float32 ``[N]``, dones
    bool ``[N]``, and a list of ``N`` info dicts."""

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
        self._t_start = time.time()
        self._pending = False
        self._closed = False
        super().__init__(num_envs, self._batch.observation_space, self._batch.action_space)

    # -- the VecEnv contract -------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        if self._closed:
            raise RuntimeError(f"{self.env_id}: reset() called after close()")
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
            raise RuntimeError(f"{self.env_id}: step_async() called after close()")
        if not self._batch.has_reset:
            raise RuntimeError(f"{self.env_id}: call reset() before stepping")
        self._batch.load_actions(actions)
        self._pending = True

    def step_wait(self) -> VecEnvStepReturn:
        if not self._pending:
            raise RuntimeError(f"{self.env_id}: step_wait() called without step_async()")
        batch = self._batch
        batch.step(batch.actions)
        self._pending = False
        terminated, truncated = batch.terminated, batch.truncated
        dones = terminated | truncated
        # The one Python loop: SB3's API is a list of dicts, one per environment.
        infos = step_infos(self.num_envs)
        done_rows = np.flatnonzero(dones)
        if done_rows.size:
            elapsed = round(time.time() - self._t_start, 6)
            episode = batch.episode
            for i in done_rows:
                info = infos[i]
                info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                info["terminal_observation"] = batch.final_obs[i].copy()
                info["episode"] = {
                    "r": round(float(episode[i, 4]), 6),
                    "l": int(episode[i, 3]),
                    "t": elapsed,
                }
                self.reset_infos[i] = {}
        return batch.obs.copy(), batch.reward.copy(), dones, infos

    def close(self) -> None:
        self._closed = True

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self._render_mode != "rgb_array":
            return [None] * self.num_envs
        return [self._row(i).render() for i in range(self.num_envs)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self._row(i), attr_name) for i in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an environment parameter (e.g. ``"gravity"``). Parameters are shared by all
        environments of one Thrust VecEnv, so ``indices`` must cover all of them."""
        fields = self.definition.params_type._fields
        if attr_name not in fields:
            raise AttributeError(
                f"{self.env_id}: set_attr can set the parameters {', '.join(fields)}; "
                f"got {attr_name!r}"
            )
        if sorted(set(self._indices(indices))) != list(range(self.num_envs)):
            raise ValueError(
                f"{self.env_id}: parameters are shared by all {self.num_envs} environments; "
                "set_attr must target all of them (indices=None)"
            )
        batch = self._batch
        new = make_params(
            self.definition, self.env_id, {**batch.base_params._asdict(), attr_name: value}
        )
        batch.base_params = new
        batch.params = new

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return [
            getattr(self._row(i), method_name)(*method_args, **method_kwargs)
            for i in self._indices(indices)
        ]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """True for the wrappers whose behaviour is built in: SB3's ``Monitor`` (episode
        statistics in ``info["episode"]``) and, with a time limit, Gymnasium's ``TimeLimit``."""
        built_in: tuple[type, ...] = (Monitor,)
        if self.max_episode_steps is not None:
            built_in += (gym.wrappers.TimeLimit,)
        wrapped = isinstance(wrapper_class, type) and any(
            issubclass(w, wrapper_class) for w in built_in
        )
        return [wrapped for _ in self._indices(indices)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(
                f"{self.env_id}: seed must be a non-negative int or None, got {seed!r}"
            )
        return super().seed(seed)

    # -- extras ---------------------------------------------------------------------------------

    @property
    def render_mode(self) -> str | None:
        return self._render_mode

    @render_mode.setter
    def render_mode(self, value: str | None) -> None:
        # VecEnv.__init__ assigns the value it read through get_attr: the same.
        self._render_mode = value

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

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, (int, np.integer)):
            indices = [indices]
        out = [int(i) for i in indices]
        for i in out:
            if not -self.num_envs <= i < self.num_envs:
                raise IndexError(
                    f"{self.env_id}: environment index {i} out of range [0, {self.num_envs})"
                )
        return [i % self.num_envs for i in out]

    def _row(self, i: int) -> _Row:
        return _Row(self, i)

    def __repr__(self) -> str:
        return f"ThrustVecEnv({self.env_id}, n_envs={self.num_envs})"


class _Row:
    """What ``get_attr``/``env_method`` see as environment ``i``: the env-level attributes,
    the parameters by name, and per-row ``render``, ``get_state`` and ``set_state``."""

    def __init__(self, venv: ThrustVecEnv, index: int) -> None:
        self._venv = venv
        self._index = index

    def __getattr__(self, name: str) -> Any:
        venv = self._venv
        shared = {
            "render_mode": lambda: venv._render_mode,
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
