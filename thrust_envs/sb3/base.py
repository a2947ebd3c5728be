"""What every Thrust SB3 ``VecEnv`` shares: the index and attribute plumbing SB3 asks of a
``VecEnv`` (``get_attr``, ``set_attr``, ``env_method``, ``env_is_wrapped``), seeding,
rendering and closing, and :func:`fill_episode_infos`, the one place that writes SB3's
finished-episode info contract."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from numba import njit
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from thrust_envs.core.batch import InvalidAction, action_array, refuse_wrapping_integers
from thrust_envs.core.definition import make_params
from thrust_envs.core.game_views import GameError
from thrust_envs.core.games import BatchGame, GameDefinition

#: above this magnitude a return is rounded by Python itself (``x * 1e6`` nears 2**53)
_ROUND_EXACT_LIMIT = 2.0**52 / 1e6


@njit(cache=True)
def _rounded_to_micro(values, out, unsure):  # pragma: no cover - compiled
    """``out[i] = rint(values[i] * 1e6) / 1e6`` for the ``N`` values; the rows Python's
    ``round`` may round otherwise (``values[i] * 1e6`` within its rounding error of a
    half-integer) and the huge and the non-finite ones are written to the front of ``unsure``
    (int64 ``[N]``); returns how many."""
    count = 0
    for i in range(values.shape[0]):
        v = values[i]
        scaled = v * 1e6
        out[i] = np.rint(scaled) / 1e6
        distance = abs(scaled - np.floor(scaled) - 0.5)
        near_half = not (distance > abs(scaled) * 1e-12 + 1e-12)
        if near_half or not (abs(v) < _ROUND_EXACT_LIMIT):
            unsure[count] = i
            count += 1
    return count


def monitor_rounded(returns: np.ndarray) -> list[float]:
    """``[round(r, 6) for r in returns]`` (SB3 ``Monitor``'s ``"r"``), bit for bit, in one
    numba pass.

    ``rint(r * 1e6) / 1e6`` is the double nearest to ``k / 10**6`` as Python's ``round`` is;
    the two choose different integers ``k`` only when ``r * 1e6`` lies within its rounding
    error of a half-integer, and those returns (with the huge and the non-finite ones) are
    rounded by Python. Per row, Python's ``round`` cost a third of a 1,024-game Snake step
    (and numpy's dozen calls more than Python's rounds below about 30 rows).
    """
    values = np.asarray(returns, dtype=np.float64)
    out = np.empty(values.shape[0])
    unsure = np.empty(values.shape[0], dtype=np.int64)
    count = _rounded_to_micro(values, out, unsure)
    rounded = out.tolist()
    for i in unsure[:count].tolist():
        rounded[i] = round(float(values[i]), 6)
    return rounded


def fill_episode_infos(
    infos: list[dict[str, Any]],
    rows: Sequence[int],
    terminal_observations: np.ndarray,
    returns: np.ndarray,
    lengths: Sequence[int],
    time_limit: Sequence[bool],
    elapsed: float,
) -> None:
    """Write SB3's finished-episode keys into ``infos[row]`` for each finished row, as
    ``DummyVecEnv`` over SB3's ``Monitor`` does: ``TimeLimit.truncated`` (the episode only hit
    its time limit), ``terminal_observation`` (the last observation, before the reset) and
    ``episode`` = ``{"r": return rounded to 6 decimals, "l": length, "t": elapsed seconds}``.

    :param infos: the step's ``N`` info dicts (from :func:`thrust_envs.core.batch.step_infos`).
    :param rows: the ``D`` finished rows (Python ints: pass ``array.tolist()``), in the order of
        the other arguments.
    :param terminal_observations: ``[D, *obs_shape]``, a new array (each info keeps its row).
    :param returns: float64 ``[D]``, the episodes' returns (rounded as ``Monitor`` rounds,
        :func:`monitor_rounded`).
    :param lengths: ``[D]`` Python ints, the episodes' lengths.
    :param time_limit: ``[D]`` Python bools, truncated and not terminated.
    :param elapsed: seconds since the VecEnv was made, already rounded (``Monitor``'s ``"t"``).
    """
    rounded = monitor_rounded(returns)
    for row, final, ret, length, limit in zip(
        rows, terminal_observations, rounded, lengths, time_limit, strict=True
    ):
        info = infos[row]
        info["TimeLimit.truncated"] = limit
        info["terminal_observation"] = final
        info["episode"] = {"r": ret, "l": length, "t": elapsed}


def check_integer_actions(
    label: str, actions: Any, shape: tuple[int, ...], space: Any
) -> np.ndarray:
    """``actions`` as an integer array of ``shape`` (for ``space``), or :class:`InvalidAction`
    naming both (their values in ``space`` are the kernel's check, but for uint64 values that
    int64 cannot hold, refused here as given)."""
    array = action_array(label, actions, lambda: f"integer actions of shape {shape}")
    if array.dtype.kind not in "iu":
        raise InvalidAction(f"{label}: actions must be integers, got dtype {array.dtype}")
    if array.shape != shape:
        raise InvalidAction(f"{label}: expected actions of shape {shape}, got {array.shape}")
    refuse_wrapping_integers(label, array, space)
    return array


class ThrustVecEnvBase(VecEnv):
    """SB3 ``VecEnv`` plumbing over rows stepped together by one Thrust kernel.

    A subclass sets ``env_id``, ``definition`` and ``render_mode`` before calling
    ``ThrustVecEnvBase.__init__``, and provides ``_row(i)``: the object whose attributes and
    methods ``get_attr``/``env_method`` reach as environment ``i``. Parameters are shared by
    all rows, so ``set_attr`` sets one for every row (:meth:`_set_params`).
    """

    env_id: str
    definition: Any
    # SB3 wrappers whose behaviour every row has built in, for env_is_wrapped.
    built_in_wrappers: tuple[type, ...] = (Monitor,)

    def __init__(
        self, num_envs: int, observation_space: gym.Space, action_space: gym.Space
    ) -> None:
        self._t_start = time.time()
        self._closed = False
        super().__init__(num_envs, observation_space, action_space)

    # -- rows -----------------------------------------------------------------------------------

    def _row(self, index: int) -> Any:
        raise NotImplementedError

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        """``indices`` (None: all, an int, or a sequence; negative ones count from the end) as
        a list of rows, or an IndexError naming the one out of range."""
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            indices = [indices]
        out = [int(i) for i in indices]
        for i in out:
            if not -self.num_envs <= i < self.num_envs:
                raise IndexError(
                    f"{self.env_id}: environment index {i} out of range [0, {self.num_envs})"
                )
        return [i % self.num_envs for i in out]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self._row(i), attr_name) for i in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an environment parameter (e.g. ``"gravity"``). Parameters are shared by all
        rows of one Thrust VecEnv, so ``indices`` must cover all of them."""
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
        self._set_params(attr_name, value)

    def _params_owner(self) -> Any:
        """What holds the rows' ``base_params`` and ``params`` (a ``BatchEnv``, a device env),
        or None where the parameters are fixed at construction (the games)."""
        return None

    def _set_params(self, attr_name: str, value: Any) -> None:
        """One parameter changed, checked as at construction; in force from the next step."""
        owner = self._params_owner()
        if owner is None:
            raise AttributeError(f"{self.env_id}: the parameters are fixed at construction")
        new = make_params(
            self.definition, self.env_id, {**owner.base_params._asdict(), attr_name: value}
        )
        owner.base_params = owner.params = new

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
        """True for the wrappers whose behaviour is built in (:attr:`built_in_wrappers`;
        always SB3's ``Monitor``: episode statistics in ``info["episode"]``)."""
        wrapped = isinstance(wrapper_class, type) and any(
            issubclass(w, wrapper_class) for w in self.built_in_wrappers
        )
        return [wrapped for _ in self._indices(indices)]

    # -- seeding, rendering, closing ------------------------------------------------------------

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Row ``i`` gets ``seed + i`` at the next ``reset`` (SB3's convention). Checked now:
        ``seed + num_envs`` must stay within the streams' 64-bit seeds."""
        if seed is not None and (
            not isinstance(seed, (int, np.integer))
            or isinstance(seed, bool)
            or not 0 <= seed <= 2**64 - self.num_envs
        ):
            raise ValueError(
                f"{self.env_id}: seed must be None or an int in [0, 2**64 - num_envs] (row i "
                f"gets seed + i, num_envs={self.num_envs}), got {seed!r}"
            )
        return super().seed(seed)

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """SB3's ``set_options``: the next ``reset``'s options (the env's reset options, such as
        ``low``/``high``), for that reset only: as in ``DummyVecEnv``, an env that finishes
        later resets without them. Refuses ``reset_mask``: SB3's ``reset`` resets every
        environment."""
        for option in options if isinstance(options, list) else [options or {}]:
            if not isinstance(option, dict):
                raise TypeError(
                    f"{self.env_id}: set_options takes a dict or a list of dicts, got "
                    f"{type(option).__name__}"
                )
            if "reset_mask" in option:
                raise ValueError(
                    f"{self.env_id}: reset_mask is not an SB3 reset option: reset() resets every "
                    "environment (a finished one resets itself in its step)"
                )
        super().set_options(options)

    @property
    def render_mode(self) -> str | None:
        return self._render_mode

    @render_mode.setter
    def render_mode(self, value: str | None) -> None:
        # VecEnv.__init__ assigns the value it read through get_attr: the same.
        self._render_mode = value

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self._render_mode != "rgb_array":
            return [None] * self.num_envs
        return [self._row(i).render() for i in range(self.num_envs)]

    def close(self) -> None:
        self._closed = True

    def _refuse_game_options(self) -> None:
        """A game's ``reset``: its games have no reset options, so ``set_options`` gave none."""
        given = [option for option in self._options if option]
        if given:
            raise ValueError(
                f"{self.env_id}: a game has no reset options (set_options is for the "
                f"single-agent envs' reset bounds), got {given[0]!r}"
            )

    # step_async loads a step's actions (checked then), step_wait takes that step: once.
    _step_pending = False

    def _take_pending_step(self) -> None:
        """``step_wait``'s precondition: open, and a ``step_async`` since the last step."""
        if self._closed:
            self._raise_closed("step_wait")
        if not self._step_pending:
            raise RuntimeError(f"{self.env_id}: step_wait() called without step_async()")
        self._step_pending = False  # taken, even if the step then raises

    def _raise_closed(self, method: str) -> None:
        raise RuntimeError(f"{self.env_id}: {method}() called after close()")

    def _elapsed(self) -> float:
        """Seconds since construction, rounded as ``Monitor``'s ``"t"``."""
        return round(time.time() - self._t_start, 6)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_id}, n_envs={self.num_envs})"


class GameVecEnvBase(ThrustVecEnvBase):
    """What the SB3 views of a multi-agent game share: the :class:`BatchGame` built from the
    game's parameters, rows that answer ``get_attr`` as :class:`ParamsRow`, and the checks and
    seeding of ``reset`` and ``step_async``.

    A subclass's ``__init__`` calls :meth:`_build_game`, checks its own arguments against the
    game, then :meth:`_start` with its number of rows.
    """

    _game: BatchGame

    def _build_game(
        self,
        definition: GameDefinition,
        n_games: int,
        num_threads: int | None,
        kwargs: dict[str, Any],
    ) -> BatchGame:
        """Build the game (autoreset on) and return it."""
        self.definition = definition
        self.env_id = definition.env_id
        params = make_params(definition, definition.env_id, kwargs)
        self._game = BatchGame(definition, n_games, params, autoreset=True, num_threads=num_threads)
        self._render_mode = None
        return self._game

    def _start(self, num_envs: int, seed: int | None) -> None:
        """Initialise the ``VecEnv`` with ``num_envs`` rows; ``seed`` is the first reset's."""
        game = self._game
        ThrustVecEnvBase.__init__(self, num_envs, game.observation_space, game.action_space)
        if seed is not None:
            self.seed(seed)

    def _row(self, index: int) -> ParamsRow:
        return ParamsRow(self)

    @property
    def params(self) -> Any:
        """The game's parameters (a NamedTuple shared by all rows)."""
        return self._game.params

    def _reset_game(self) -> int | None:
        """Reset every game, game ``g`` with ``seed + g`` when :meth:`seed` gave one (the rows
        of one game share it); return that seed, for a view's own random draws."""
        if self._closed:
            self._raise_closed("reset")
        self._refuse_game_options()
        seed = self._seeds[0]
        if seed is not None:
            self._game.seed(int(seed))
        self._game.reset()
        self._step_pending = False
        self._reset_seeds()
        self._reset_options()
        return seed

    def _steppable_game(self) -> BatchGame:
        """The game, once checked open and reset (``step_async``'s precondition)."""
        if self._closed:
            self._raise_closed("step_async")
        if not self._game.has_reset:
            raise GameError(f"{self.env_id}: call reset() before stepping")
        return self._game


class ParamsRow:
    """What ``get_attr``/``env_method`` see as a row of a VecEnv whose rows have no state of
    their own to show (a game's rows, a device env's): ``render_mode``, ``definition`` and
    the parameters by name (``venv.params``); rows have no methods to call."""

    def __init__(self, venv: ThrustVecEnvBase) -> None:
        self._venv = venv

    def __getattr__(self, name: str) -> Any:
        venv = self._venv
        if name in ("render_mode", "definition"):
            return getattr(venv, name)
        if name in venv.definition.params_type._fields:
            return getattr(venv.params, name)  # type: ignore[attr-defined]
        raise AttributeError(f"{venv.env_id} has no attribute {name!r}")
