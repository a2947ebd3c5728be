"""Multi-agent games: what a game module declares, and ``BatchGame``, ``G`` copies of a game
stepped by one numba kernel call.

A game is the same kind of module as a single-agent env, with an agent axis: actions
``[G, A, K]`` (``K = 1`` for a ``Discrete`` action space, ``len(nvec)`` for a
``MultiDiscrete`` one), rewards ``[G, A]`` and an alive mask ``[G, A]``. Row functions take
one game ``g``:

- ``step_row(state, g, rng, actions, alive, rewards, params) -> game_over``: advances game ``g``
  with ``actions[a, :]`` for every alive agent ``a`` (dead agents' actions are ignored), writes
  each agent's reward into ``rewards[a]`` (zeroed beforehand) and may clear ``alive[a]``
  when an agent dies; random events draw from game ``g``'s stream ``rng[g]``;
- ``reset_row(state, g, rng, params)``: a new game from game ``g``'s random stream;
- ``observe_row(state, g, a, obs, params)``: agent ``a``'s egocentric view into ``obs[g, a]``.

The views (PettingZoo, parameter-sharing SB3, vs-opponent) are generic over these.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numba
import numpy as np
from gymnasium import spaces
from numba import njit, prange

from thrust_envs.core.batch import InvalidAction, normalize_seeds
from thrust_envs.core.definition import pickle_by_reference
from thrust_envs.core.kernels import (
    _specialise,
    entry_point,
    kernel_tag,
    rebind,
)
from thrust_envs.core.rng import entropy_seeds, seed_rows
from thrust_envs.core.threads import launch_numba_threads, numba_threads

PARALLEL_MIN_GAMES = 256


def bot_arguments(
    factory: Callable[..., Any], params: Mapping[str, Any], seed: Any, given: int = 0
) -> dict[str, Any]:
    """The keyword arguments a game's bot factory (``DEFINITION.bots[name]``) takes from the
    game: the parameters it names (Bucket Brigade's ``num_houses`` and ``num_agents``: a bot
    reads the observation of the game's own size) and ``seed`` when it takes one. The first
    ``given`` parameters are left out (passed positionally by the caller).

    :param factory: the bot factory
    :param params: the game's parameters by name (``params._asdict()``)
    :param seed: the bot's seed
    :param given: how many leading parameters the caller passes positionally
    :raises TypeError, ValueError: ``factory`` has no signature to read (``inspect.signature``)
    """
    import inspect

    names = list(inspect.signature(factory).parameters)[given:]
    arguments = {name: params[name] for name in names if name in params}
    if "seed" in names:
        arguments["seed"] = seed
    return arguments


def uniform_random_bot(num_actions: int, seed: int | None = None):
    """A player for a game of ``Discrete(num_actions)`` actions: for a batch of observations
    ``[n, ...]``, ``n`` uniformly random int64 actions from its own seeded generator.

    :raises ValueError: ``num_actions`` is not a positive int
    """
    if isinstance(num_actions, bool) or not isinstance(num_actions, (int, np.integer)):
        raise ValueError(f"num_actions must be a positive int, got {num_actions!r}")
    if num_actions < 1:
        raise ValueError(f"num_actions must be a positive int, got {num_actions}")
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        return rng.integers(0, num_actions, size=len(obs))

    act.__name__ = "random"
    return act


@dataclasses.dataclass(frozen=True)
class GameDefinition:
    """Everything the generic multi-agent views need to know about one game."""

    name: str
    env_id: str
    params_type: type[tuple]
    state_size: int | Callable[[Any], int]  # floats per game, or a function of params
    num_agents: Callable[[Any], int]
    observation_space: Callable[[Any], spaces.Box]
    action_space: Callable[[Any], spaces.Discrete | spaces.MultiDiscrete]
    step_row: Any
    reset_row: Any
    observe_row: Any
    render: Callable[[np.ndarray, Any], np.ndarray] | None
    module: str
    max_steps: Callable[[Any], int]
    check_params: Callable[[Any], None] = lambda params: None
    bots: Mapping[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = dataclasses.field(
        default_factory=dict
    )
    render_fps: int = 30
    # Optional per-agent facts for PettingZoo's infos: ``infos(state_row, params)`` returns
    # ``{key: array [A]}``; the parallel view puts ``value[a]`` in ``infos[agent][key]``.
    infos: Callable[[np.ndarray, Any], Mapping[str, np.ndarray]] | None = None
    # Named parameter sets, as EnvDefinition's: ``preset=name`` in any view's keywords.
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def agent_names(self, params: Any) -> list[str]:
        return [f"player_{a}" for a in range(self.num_agents(params))]

    def __reduce__(self) -> tuple:
        return pickle_by_reference(self)  # it holds numba functions: by reference


@njit(cache=True, inline="always")
def invalid_game_agent(actions, alive, nvec, g):
    """The first alive agent of game ``g`` with an action component ``k`` outside
    ``[0, nvec[k])``, or -1."""
    agents, parts = actions.shape[1], actions.shape[2]
    for a in range(agents):
        if alive[g, a]:
            for k in range(parts):
                if actions[g, a, k] < 0 or actions[g, a, k] >= nvec[k]:
                    return a
    return -1


@njit(cache=True)
def first_invalid_game_action(actions, alive, nvec):
    """Flat index ``g * A + a`` of the first alive agent with an action component ``k``
    outside ``[0, nvec[k])``, or -1."""
    # invalid_game_agent's loop written out: the CUDA validation calls it per game, but on the
    # CPU its IR-inlined call slowed the whole 64-game Pong step by 2 us (vecenv_revisions).
    games, agents, parts = actions.shape
    for g in range(games):
        for a in range(agents):
            if alive[g, a]:
                for k in range(parts):
                    if actions[g, a, k] < 0 or actions[g, a, k] >= nvec[k]:
                        return g * agents + a
    return -1


# Row bodies (one game) and templates. step_row, reset_row, observe_row, copy_obs_row and the
# bodies are bound per game; the CPU templates run a body for every game in a (p)range loop,
# the CUDA templates (compiled by thrust_envs.cuda) in one thread per game.


class GameArrays(NamedTuple):
    """The arrays ``G`` games of ``A`` agents are stepped in: one struct for every body,
    template and view (as :class:`~thrust_envs.core.kernels.RowArrays` for single-agent rows).

    ``state`` float64 ``[G, S]``; ``rng`` uint64 ``[G]``; ``length`` and ``final_length``
    int64 ``[G]``; ``alive``, ``was_alive`` (before the step: the agents it reports on),
    ``terminated``, ``truncated`` bool ``[G, A]``; ``agent_return``, ``final_return``,
    ``reward`` float64 ``[G, A]``; ``obs``, ``final_obs`` ``[G, A, *obs_shape]``; ``game_over``
    bool ``[G]``, whether the game ended this step (by its rules or by the step limit)."""

    state: np.ndarray
    rng: np.ndarray
    length: np.ndarray
    alive: np.ndarray
    was_alive: np.ndarray
    agent_return: np.ndarray
    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    final_return: np.ndarray
    final_length: np.ndarray
    game_over: np.ndarray


def _game_step_one(games, actions, params, autoreset, max_steps, g):
    """Step game ``g`` of ``games`` (its actions already validated); see
    :func:`_game_step_template`."""
    agents = games.alive.shape[1]
    for a in range(agents):
        games.was_alive[g, a] = games.alive[g, a]
        games.reward[g, a] = 0.0
    over = step_row(  # noqa: F821
        games.state, g, games.rng, actions[g], games.alive[g], games.reward[g], params
    )
    games.length[g] += 1
    trunc = max_steps > 0 and games.length[g] >= max_steps and not over
    for a in range(agents):
        if games.was_alive[g, a]:
            games.agent_return[g, a] += games.reward[g, a]
            games.terminated[g, a] = over or not games.alive[g, a]
            games.truncated[g, a] = trunc and games.alive[g, a]
            observe_row(games.state, g, a, games.obs, params)  # noqa: F821
        else:
            games.terminated[g, a] = False
            games.truncated[g, a] = False
    games.game_over[g] = over or trunc
    if games.game_over[g]:
        games.final_length[g] = games.length[g]
        for a in range(agents):
            games.final_return[g, a] = games.agent_return[g, a]
        if autoreset:
            copy_obs_row(games.obs, games.final_obs, g)  # noqa: F821
            reset_row(games.state, g, games.rng, params)  # noqa: F821
            games.length[g] = 0
            for a in range(agents):
                games.alive[g, a] = True
                games.agent_return[g, a] = 0.0
                observe_row(games.state, g, a, games.obs, params)  # noqa: F821


def _game_reset_one(games, params, g):
    """Start a new game ``g``: every agent alive, returns zeroed, observed."""
    reset_row(games.state, g, games.rng, params)  # noqa: F821
    games.length[g] = 0
    for a in range(games.alive.shape[1]):
        games.alive[g, a] = True
        games.agent_return[g, a] = 0.0
        observe_row(games.state, g, a, games.obs, params)  # noqa: F821


def _game_step_template(games, actions, params, autoreset, max_steps, nvec):
    """Step every game of ``games`` (:class:`GameArrays`); returns -1 or the flat index of an
    invalid action (nothing changed). With ``autoreset`` a finished game is reset in the same
    step, its final observations and returns kept in ``final_obs`` / ``final_return``."""
    bad = first_invalid_game_action(actions, games.alive, nvec)
    if bad >= 0:
        return bad
    # _game_step_one is written into this loop by kernels.inline_calls, not called (why: see
    # there); the CUDA template calls it and the fused rollout writes it in too.
    for g in prange(games.alive.shape[0]):
        game_step_one(games, actions, params, autoreset, max_steps, g)  # noqa: F821
    return -1


def _game_reset_template(games, mask, params):
    for g in prange(games.alive.shape[0]):
        if mask[g]:
            game_reset_one(games, params, g)  # noqa: F821


# CUDA templates, one thread per game; see core/kernels.py for the two-launch step and
# ``status`` (here: first invalid action as ``g * A + a``; N * A means none). A kernel takes
# the arrays one by one, in GameArrays' order, and makes the bodies' GameArrays of them.


def _cuda_game_validate_template(actions, alive, nvec, status):
    g = cuda.grid(1)  # noqa: F821
    if g < alive.shape[0]:
        a = invalid_game_agent(actions, alive, nvec, g)
        if a >= 0:
            cuda.atomic.min(status, 0, g * alive.shape[1] + a)  # noqa: F821


def _cuda_game_step_template(
    state, rng, length, alive, was_alive, agent_return, obs, reward, terminated, truncated,
    final_obs, final_return, final_length, game_over, actions, params, autoreset, max_steps,
    status, error_action, totals,
):  # fmt: skip
    """Step game ``cuda.grid(1)`` unless ``status`` holds an error (then the bad game copies
    the bad agent's action into ``error_action``, once). ``totals`` float64 ``[G, 2 + A]``
    accumulates finished games, their lengths and each agent's returns."""
    g = cuda.grid(1)  # noqa: F821
    n_games, agents = alive.shape
    if g >= n_games:
        return
    if status[0] < n_games * agents:
        if g == status[0] // agents and status[2] == 0:
            for k in range(actions.shape[2]):
                error_action[k] = actions[g, status[0] % agents, k]
            status[2] = 1
        return
    games = GameArrays(
        state, rng, length, alive, was_alive, agent_return, obs, reward, terminated, truncated,
        final_obs, final_return, final_length, game_over,
    )  # fmt: skip
    game_step_one(games, actions, params, autoreset, max_steps, g)  # noqa: F821
    if game_over[g]:
        totals[g, 0] += 1.0
        totals[g, 1] += final_length[g]
        for a in range(agents):
            totals[g, 2 + a] += final_return[g, a]


def _cuda_game_reset_template(
    state, rng, length, alive, was_alive, agent_return, obs, reward, terminated, truncated,
    final_obs, final_return, final_length, game_over, mask, params,
):  # fmt: skip
    g = cuda.grid(1)  # noqa: F821
    if g < alive.shape[0] and mask[g]:
        games = GameArrays(
            state, rng, length, alive, was_alive, agent_return, obs, reward, terminated,
            truncated, final_obs, final_return, final_length, game_over,
        )  # fmt: skip
        game_reset_one(games, params, g)  # noqa: F821


CUDA_GAME_TEMPLATES = {
    "validate": _cuda_game_validate_template,
    "step": _cuda_game_step_template,
    "reset": _cuda_game_reset_template,
}


@njit(cache=True, inline="always")
def copy_game_obs_row(obs, final_obs, g):
    """``final_obs[g] = obs[g]`` for ``[G, A, F]`` observations, element by element, on every
    target (why: see :func:`thrust_envs.core.kernels.copy_obs_row`)."""
    for a in range(obs.shape[1]):
        for k in range(obs.shape[2]):
            final_obs[g, a, k] = obs[g, a, k]


def game_row_bindings(definition: GameDefinition) -> dict[str, Any]:
    """The names the game's row bodies (``_game_step_one``, ``_game_reset_one``) call, bound to
    its row functions and to the final-observation copy every target uses."""
    return {
        "step_row": definition.step_row,
        "reset_row": definition.reset_row,
        "observe_row": definition.observe_row,
        "copy_obs_row": copy_game_obs_row,
    }


def game_row_bodies(definition: GameDefinition, tag: str):
    """The game's row bodies (``game_step_one``, ``game_reset_one``), inlined into the
    templates of either target."""
    bindings = game_row_bindings(definition)
    bodies = (("game_step_one", _game_step_one), ("game_reset_one", _game_reset_one))
    return {
        name: njit(cache=True, inline="always")(rebind(body, f"{name}__{tag}", bindings))
        for name, body in bodies
    }


_compiled: dict[str, dict[str, Any]] = {}


def compile_game_kernels(definition: GameDefinition) -> dict[str, Any]:
    kernels = _compiled.get(definition.module)
    if kernels is not None:
        return kernels
    tag = kernel_tag(definition)
    bindings = {
        **game_row_bindings(definition),
        "first_invalid_game_action": first_invalid_game_action,
        "prange": prange,
    }
    inline = {"game_step_one": _game_step_one, "game_reset_one": _game_reset_one}
    kernels = {}
    for name, template in (("step", _game_step_template), ("reset", _game_reset_template)):
        specialised = functools.partial(_specialise, template, bindings=bindings, inline=inline,
                                        structs=("games",))  # fmt: skip
        kernels[name] = specialised(f"game_{name}__{tag}", False)
        kernels[f"{name}_parallel"] = specialised(f"game_{name}_parallel__{tag}", True)
    _compiled[definition.module] = kernels
    return kernels


class BatchGame:
    """``num_games`` copies of a game in preallocated arrays (``G`` games, ``A`` agents).

    Arrays: state float64 ``[G, S]``; rng uint64 ``[G]``; length int64 ``[G]``; alive,
    was_alive, terminated, truncated bool ``[G, A]``; agent_return, final_return, reward
    float64 ``[G, A]``; obs, final_obs ``[G, A, *obs_shape]``; game_over bool ``[G]``;
    final_length int64 ``[G]``; actions int64 ``[G, A, K]`` (written by the views).
    """

    def __init__(
        self,
        definition: GameDefinition,
        num_games: int,
        params: Any,
        autoreset: bool,
        num_threads: int | None = None,
    ) -> None:
        label = definition.env_id
        if (
            not isinstance(num_games, (int, np.integer))
            or isinstance(num_games, bool)
            or num_games < 1
        ):
            raise ValueError(
                f"{label}: the number of games must be a positive int, got {num_games!r}"
            )
        available = numba.config.NUMBA_NUM_THREADS
        if num_threads is None:
            num_threads = available
        if not isinstance(num_threads, (int, np.integer)) or not 1 <= num_threads <= available:
            raise ValueError(
                f"{label}: num_threads must be an int in [1, {available}], got {num_threads!r}"
            )
        self.definition = definition
        self.params = params
        self.num_games = g = int(num_games)
        self.num_agents = a = definition.num_agents(params)
        self.agents = definition.agent_names(params)
        self.observation_space = definition.observation_space(params)
        self.action_space = definition.action_space(params)
        self.autoreset = bool(autoreset)
        self.max_steps = int(definition.max_steps(params))
        self.num_threads = int(num_threads)
        self._parallel = self.num_threads > 1 and g >= PARALLEL_MIN_GAMES
        kernels = compile_game_kernels(definition)
        self._step = kernels["step_parallel" if self._parallel else "step"]
        self._reset = kernels["reset_parallel" if self._parallel else "reset"]
        obs_shape = self.observation_space.shape
        size = definition.state_size
        self.state = np.zeros((g, int(size(params)) if callable(size) else size))
        self.rng = np.zeros(g, dtype=np.uint64)
        self.length = np.zeros(g, dtype=np.int64)
        self.alive = np.zeros((g, a), dtype=np.bool_)
        self.was_alive = np.zeros((g, a), dtype=np.bool_)
        self.agent_return = np.zeros((g, a))
        self.final_return = np.zeros((g, a))
        self.final_length = np.zeros(g, dtype=np.int64)
        self.obs = np.zeros((g, a, *obs_shape), dtype=self.observation_space.dtype)
        self.final_obs = np.zeros_like(self.obs)
        self.reward = np.zeros((g, a))
        self.terminated = np.zeros((g, a), dtype=np.bool_)
        self.truncated = np.zeros((g, a), dtype=np.bool_)
        self.game_over = np.zeros(g, dtype=np.bool_)
        space = self.action_space
        if isinstance(space, spaces.Discrete) and space.start == 0:
            self.nvec = np.array([space.n], dtype=np.int64)
        elif (
            isinstance(space, spaces.MultiDiscrete)
            and space.nvec.ndim == 1
            and not space.start.any()
        ):
            self.nvec = space.nvec.astype(np.int64)
        else:
            raise TypeError(
                f"{label}: game actions must be Discrete or 1-D MultiDiscrete from 0, got {space}"
            )
        self.discrete = isinstance(space, spaces.Discrete)
        self.actions = np.zeros((g, a, len(self.nvec)), dtype=np.int64)
        self.arrays = self._gather_arrays()
        self._all = np.ones(g, dtype=np.bool_)
        self.has_reset = False
        self._step_entry = None
        self.seed(None)

    def _gather_arrays(self) -> GameArrays:
        return GameArrays(*(getattr(self, name) for name in GameArrays._fields))

    def __getstate__(self) -> dict[str, Any]:
        # The compiled kernels and entry points do not pickle: rebuilt by __setstate__.
        skipped = ("_step", "_reset", "_step_entry", "arrays")
        return {k: v for k, v in self.__dict__.items() if k not in skipped}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.arrays = self._gather_arrays()
        kernels = compile_game_kernels(self.definition)
        self._step = kernels["step_parallel" if self._parallel else "step"]
        self._reset = kernels["reset_parallel" if self._parallel else "reset"]
        self._step_entry = None

    def seed(self, seed: Any, rows: np.ndarray | None = None) -> None:
        """Seed game ``i`` with ``seed + i`` (an int), per game (a sequence of ints or None,
        as :func:`~thrust_envs.core.batch.normalize_seeds` takes), or from entropy; only the
        games of ``rows`` (bool ``[G]``) when given. Checked before any stream changes."""
        seeds = normalize_seeds(self.definition.env_id, seed, self.num_games)
        index = np.arange(self.num_games) if rows is None else np.flatnonzero(rows)
        seed_rows(
            self.rng,
            index.astype(np.int64),
            entropy_seeds(index.shape[0]) if seeds is None else seeds[index],
        )

    def _threads(self) -> contextlib.AbstractContextManager:
        """numba's thread count for one kernel call (the user's setting is put back after)."""
        return numba_threads(self.num_threads) if self._parallel else contextlib.nullcontext()

    def reset(self, rows: np.ndarray | None = None) -> None:
        mask = self._all if rows is None else rows
        with self._threads():
            self._reset(self.arrays, mask, self.params)
        self.has_reset = True

    def step(self) -> None:
        """Step every game with ``self.actions``; raise :class:`InvalidAction` naming the game
        and agent if one is invalid (then nothing changes)."""
        if self._step_entry is None:
            # Every argument is an array this object owns or a fixed setting: look the compiled
            # overload up once and skip numba's type dispatch (about 2 µs a step).
            args = (
                self.arrays, self.actions, self.params, self.autoreset, self.max_steps, self.nvec
            )  # fmt: skip
            if self._parallel:
                launch_numba_threads()  # compiling a parallel kernel would start numba's threads
            self._step_entry = functools.partial(entry_point(self._step, args), *args)
        with self._threads():
            status = self._step_entry()
        if status >= 0:
            game, agent = divmod(status, self.num_agents)
            action = self.actions[game, agent]
            shown = int(action[0]) if self.discrete else action.tolist()
            raise InvalidAction(
                f"{self.definition.env_id}: action {shown} of agent "
                f"{self.agents[agent]!r} in game {game} is outside {self.action_space}"
            )

    def action_shape(self, rows: int) -> tuple[int, ...]:
        """The shape of an action batch for ``rows`` agents: ``(rows,)`` or ``(rows, K)``."""
        return (rows,) if self.discrete else (rows, len(self.nvec))

    def write_actions(self, rows: tuple, actions: np.ndarray) -> None:
        """Write an action batch (shaped as :meth:`action_shape`) at ``self.actions[rows]``."""
        if self.discrete:
            self.actions[(*rows, 0)] = actions
        else:
            self.actions[rows] = actions
