"""Generic views of a multi-agent game: PettingZoo (parallel and AEC), a parameter-sharing
SB3 VecEnv and the vs-opponent VecEnv for self-play. Written once for every game."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit
from pettingzoo import ParallelEnv

from thrust_envs.core.batch import InvalidAction, check_seed, step_infos
from thrust_envs.core.definition import make_params
from thrust_envs.core.games import BatchGame, GameDefinition
from thrust_envs.core.kernels import DirectCalls

Policy = Callable[[np.ndarray], np.ndarray]


class GameError(RuntimeError):
    """Stepping a game that is not running (before reset, or after it ended)."""


class ThrustParallelEnv(ParallelEnv):
    """One game as a PettingZoo ``ParallelEnv`` (stepped by the same kernels as the batch views).

    Agents that die leave ``self.agents`` as PettingZoo requires; when the game ends, by its
    rules or at ``max_steps``, every remaining agent is terminated or truncated and
    ``self.agents`` becomes empty until ``reset``.
    """

    def __init__(
        self, definition: GameDefinition, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"{definition.env_id}: render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        self.definition = definition
        params = make_params(definition, definition.env_id, kwargs)
        self._game = BatchGame(definition, 1, params, autoreset=False, num_threads=1)
        self.possible_agents = list(self._game.agents)
        self.agents: list[str] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        self.observation_spaces = {a: self._game.observation_space for a in self.possible_agents}
        self.action_spaces = {a: self._game.action_space for a in self.possible_agents}
        self.render_mode = render_mode
        self.metadata = {
            "render_modes": ["rgb_array"],
            "name": definition.module.rsplit(".", 1)[-1] + "_v0",
            "is_parallelizable": True,
            "render_fps": definition.render_fps,
        }

    @property
    def params(self) -> Any:
        return self._game.params

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        game = self._game
        if seed is not None:
            game.seed(check_seed(self.definition.env_id, seed))
        game.reset()
        self.agents = list(self.possible_agents)
        obs = {a: game.obs[0, i].copy() for i, a in enumerate(self.possible_agents)}
        return obs, self._infos(self.agents)

    def step(self, actions: dict[str, Any]):
        game, label = self._game, self.definition.env_id
        if not self.agents:
            raise GameError(
                f"{label}: the game is over (or was never started); call reset() before step()"
            )
        if not isinstance(actions, dict):
            raise TypeError(
                f"{label}: actions must be a dict from agent name to action, "
                f"got {type(actions).__name__}"
            )
        for agent in actions:
            if agent not in self._index:
                raise InvalidAction(
                    f"{label}: unknown agent {agent!r}; agents are {self.possible_agents}"
                )
            if agent not in self.agents:
                raise InvalidAction(
                    f"{label}: agent {agent!r} is no longer in the game; "
                    f"live agents are {self.agents}"
                )
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise InvalidAction(f"{label}: missing actions for live agent(s) {missing}")
        expected = game.action_shape(1)[1:]
        for agent, action in actions.items():
            value = np.asarray(action)
            if value.shape != expected or value.dtype.kind not in "iu":
                what = "an integer" if game.discrete else f"integers of shape {expected}"
                raise InvalidAction(
                    f"{label}: the action of agent {agent!r} must be {what} in "
                    f"{self.action_spaces[agent]}, got {action!r}"
                )
        for agent, action in actions.items():
            game.actions[0, self._index[agent]] = action
        game.step()
        live = self.agents
        obs = {a: game.obs[0, self._index[a]].copy() for a in live}
        rewards = {a: float(game.reward[0, self._index[a]]) for a in live}
        terminations = {a: bool(game.terminated[0, self._index[a]]) for a in live}
        truncations = {a: bool(game.truncated[0, self._index[a]]) for a in live}
        infos = self._infos(live)
        self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        return obs, rewards, terminations, truncations, infos

    def _infos(self, agents: list[str]) -> dict[str, dict[str, Any]]:
        infos: dict[str, dict[str, Any]] = {a: {} for a in agents}
        if self.definition.infos is not None:
            facts = self.definition.infos(self._game.state[0], self._game.params)
            for key, values in facts.items():
                for a in agents:
                    infos[a][key] = values[self._index[a]].item()
        return infos

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        if not self._game.has_reset:
            raise GameError(f"{self.definition.env_id}: call reset() before render()")
        return self.definition.render(self._game.state[0], self._game.params)

    def state(self) -> np.ndarray:
        """The game's internal state row (float64)."""
        return self._game.state[0].copy()

    def close(self) -> None:
        pass


def _check_vector_actions(label: str, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(actions)
    if a.dtype.kind not in "iu":
        raise InvalidAction(f"{label}: actions must be integers, got dtype {a.dtype}")
    if a.shape != shape:
        raise InvalidAction(f"{label}: expected actions of shape {shape}, got {a.shape}")
    return a


def _sb3_vec_env_base():
    """SB3's VecEnv plus what both game VecEnvs share (imported lazily: SB3 is optional)."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class GameVecEnv(VecEnv):
        _game: BatchGame
        definition: GameDefinition

        def close(self) -> None:
            pass

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            """``render_mode``, ``definition`` or a game parameter, for each row."""
            if attr_name in ("render_mode", "definition"):
                value = getattr(self, attr_name)
            elif attr_name in self.definition.params_type._fields:
                value = getattr(self._game.params, attr_name)
            else:
                raise AttributeError(f"{self.definition.env_id} has no attribute {attr_name!r}")
            return [value for _ in self._indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            raise AttributeError(
                f"{self.definition.env_id}: game parameters are fixed at construction"
            )

        def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any):
            raise AttributeError(
                f"{self.definition.env_id}: rows have no methods to call ({method_name!r})"
            )

        def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
            """True for SB3's Monitor, whose episode statistics are built in."""
            wrapped = isinstance(wrapper_class, type) and issubclass(Monitor, wrapper_class)
            return [wrapped for _ in self._indices(indices)]

        def _indices(self, indices: Any) -> list[int]:
            if indices is None:
                return list(range(self.num_envs))
            return [indices] if isinstance(indices, (int, np.integer)) else list(indices)

    return GameVecEnv


@njit(cache=True)
def _shared_step_rows(
    was_alive, game_over, terminated, truncated, reward, obs, out_obs, out_reward, out_done
):
    """The parameter-sharing view's step outputs, row ``g * A + a`` from agent ``a`` of game
    ``g``, in one pass (the numpy version, a copy and four masked array operations, cost as
    much as a 64-game Snake kernel): ``out_obs [G*A, F]``, ``out_reward`` float32 and ``out_done``
    ``[G*A]``. A row whose agent was dead before this step (and whose game did not end) reads
    zeros and is never done. ``obs`` is ``[G, A, F]``. Returns how many rows are done."""
    games, agents = was_alive.shape
    features = obs.shape[2]
    done_rows = 0
    for g in range(games):
        for a in range(agents):
            row = g * agents + a
            if was_alive[g, a] or game_over[g]:
                for i in range(features):  # explicit loops: numba's slice assignment is slower
                    out_obs[row, i] = obs[g, a, i]
            else:
                for i in range(features):
                    out_obs[row, i] = 0
            out_reward[row] = reward[g, a]
            done = was_alive[g, a] and (terminated[g, a] or truncated[g, a])
            out_done[row] = done
            done_rows += done
    return done_rows


@njit(cache=True)
def _shared_finished_rows(
    done,
    game_over,
    obs,
    final_obs,
    agent_return,
    final_return,
    length,
    final_length,
    terminated,
    truncated,
    rows,
    terminal_obs,
    returns,
    lengths,
    time_limit,
):
    """What each done row reports, gathered in order: its index into ``rows``, its last
    observation (the final one of a game that ended and was reset) into ``terminal_obs``
    ``[D, F]``, its episode return and length, and whether it only hit the time limit."""
    agents = obs.shape[1]
    k = 0
    for row in range(done.shape[0]):
        if not done[row]:
            continue
        g, a = row // agents, row % agents
        over = game_over[g]
        rows[k] = row
        source = final_obs if over else obs
        for i in range(obs.shape[2]):
            terminal_obs[k, i] = source[g, a, i]
        returns[k] = final_return[g, a] if over else agent_return[g, a]
        lengths[k] = final_length[g] if over else length[g]
        time_limit[k] = truncated[g, a] and not terminated[g, a]
        k += 1


def make_shared_vec_env(
    definition: GameDefinition,
    n_games: int,
    seed: int | None = None,
    num_threads: int | None = None,
    **kwargs: Any,
):
    """SB3 VecEnv with parameter sharing: one row per (game, agent), ``n_games * A`` rows."""
    VecEnv = _sb3_vec_env_base()

    class SharedGameVecEnv(VecEnv):
        """Rows ``g * A + a``: agent ``a`` of game ``g``; all games stepped in one kernel call.

        A finished game resets in the same step (its rows get ``terminal_observation``,
        ``TimeLimit.truncated`` and ``episode``). An agent that dies before its game ends is
        ``done`` at once; until the game ends its row reads zero observations and rewards and
        its actions are ignored (the usual "black death" padding for a fixed number of rows).
        """

        def __init__(self) -> None:
            params = make_params(definition, definition.env_id, kwargs)
            self.definition = definition
            self._game = BatchGame(
                definition, n_games, params, autoreset=True, num_threads=num_threads
            )
            self._t_start = time.time()
            self._actions: np.ndarray | None = None
            self._direct = DirectCalls()
            game = self._game
            # Views [G, A, F] of the game's observation buffers, for the numba passes.
            self._obs_rows = game.obs.reshape(game.num_games, game.num_agents, -1)
            self._final_obs_rows = game.final_obs.reshape(game.num_games, game.num_agents, -1)
            self.render_mode = None
            super().__init__(
                game.num_games * game.num_agents, game.observation_space, game.action_space
            )
            if seed is not None:
                self.seed(seed)

        def reset(self):
            game = self._game
            if self._seeds[0] is not None:
                game.seed(int(self._seeds[0]))  # game i gets seed + i (its rows share it)
            game.reset()
            self._reset_seeds()
            self._reset_options()
            return game.obs.reshape(self.num_envs, *game.observation_space.shape).copy()

        def step_async(self, actions: np.ndarray) -> None:
            game = self._game
            if not game.has_reset:
                raise GameError(f"{definition.env_id}: call reset() before stepping")
            a = _check_vector_actions(definition.env_id, actions, game.action_shape(self.num_envs))
            game.actions[...] = a.reshape(game.actions.shape)

        def step_wait(self):
            game = self._game
            game.step()
            n, shape = self.num_envs, game.observation_space.shape
            obs = np.empty((n, *shape), dtype=game.obs.dtype)
            rewards = np.empty(n, dtype=np.float32)
            dones = np.empty(n, dtype=np.bool_)
            direct = self._direct
            done_rows = direct(
                _shared_step_rows,
                game.was_alive,
                game.game_over,
                game.terminated,
                game.truncated,
                game.reward,
                self._obs_rows,
                obs.reshape(n, -1),
                rewards,
                dones,
            )
            infos = step_infos(n)
            if done_rows:
                # Gather what the finished rows report in one pass, then fill their dicts from
                # plain lists: per row, only the dict writes remain.
                rows = np.empty(done_rows, dtype=np.int64)
                terminal = np.empty((done_rows, *shape), dtype=game.obs.dtype)
                returns = np.empty(done_rows)
                lengths = np.empty(done_rows, dtype=np.int64)
                time_limit = np.empty(done_rows, dtype=np.bool_)
                direct(
                    _shared_finished_rows,
                    dones,
                    game.game_over,
                    self._obs_rows,
                    self._final_obs_rows,
                    game.agent_return,
                    game.final_return,
                    game.length,
                    game.final_length,
                    game.terminated,
                    game.truncated,
                    rows,
                    terminal.reshape(done_rows, -1),
                    returns,
                    lengths,
                    time_limit,
                )
                elapsed = round(time.time() - self._t_start, 6)
                for row, final, ret, length, limit in zip(
                    rows.tolist(),
                    terminal,  # rows of a new array: each info owns its observation
                    np.round(returns, 6).tolist(),
                    lengths.tolist(),
                    time_limit.tolist(),
                    strict=True,
                ):
                    info = infos[row]
                    info["TimeLimit.truncated"] = limit
                    info["terminal_observation"] = final
                    info["episode"] = {"r": ret, "l": length, "t": elapsed}
            return obs, rewards, dones, infos

    return SharedGameVecEnv()


def make_vs_opponent(
    definition: GameDefinition,
    opponent: Policy,
    n_envs: int,
    seat: int | str = "alternate",
    seed: int | None = None,
    num_threads: int | None = None,
    **kwargs: Any,
):
    """SB3 VecEnv of ``n_envs`` games in which the learner holds one seat per game and
    ``opponent`` plays every other seat, batched across games."""
    VecEnv = _sb3_vec_env_base()
    label = definition.env_id

    class VsOpponentVecEnv(VecEnv):
        """Row ``g`` is the learner's seat in game ``g``. ``seat``: an agent index (fixed),
        ``"alternate"`` (game ``g`` starts in seat ``g % A`` and moves to the next seat after
        each of its episodes) or ``"random"`` (a seat drawn per episode).

        ``set_opponent`` swaps the opponent game by game, at each game's next episode
        boundary, never mid-episode. An episode ends when the game ends or the learner dies
        (then its game restarts).
        """

        def __init__(self) -> None:
            params = make_params(definition, label, kwargs)
            self._game = game = BatchGame(
                definition, n_envs, params, autoreset=True, num_threads=num_threads
            )
            if game.num_agents < 2:
                raise ValueError(f"{label}: vs_opponent needs a game with at least two seats")
            self.definition = definition
            self._check_opponent(opponent)
            self._opponents: list[Policy] = [opponent]
            self._pending = 0
            self._opponent_of = np.zeros(n_envs, dtype=np.int64)
            self._seat_mode = seat
            self._rows = np.arange(n_envs)
            self._seat_rng = np.random.default_rng(seed)
            if isinstance(seat, (int, np.integer)) and not isinstance(seat, bool):
                if not 0 <= seat < game.num_agents:
                    raise ValueError(
                        f"{label}: seat must be in [0, {game.num_agents}), 'alternate' or "
                        f"'random', got {seat}"
                    )
                self._seat = np.full(n_envs, int(seat), dtype=np.int64)
            elif seat == "alternate":
                self._seat = self._rows % game.num_agents
            elif seat == "random":
                self._seat = self._seat_rng.integers(0, game.num_agents, n_envs)
            else:
                raise ValueError(
                    f"{label}: seat must be an agent index, 'alternate' or 'random', got {seat!r}"
                )
            self._t_start = time.time()
            self.render_mode = None
            super().__init__(n_envs, game.observation_space, game.action_space)
            if seed is not None:
                self.seed(seed)

        @staticmethod
        def _check_opponent(candidate: Any) -> None:
            if not callable(candidate):
                raise TypeError(
                    f"{label}: the opponent must be a callable from an observation batch "
                    f"to an action batch, got {candidate!r}"
                )

        @property
        def seats(self) -> np.ndarray:
            """The learner's current seat in each game (int64 ``[n_envs]``)."""
            return self._seat.copy()

        @property
        def opponents(self) -> np.ndarray:
            """Which opponent (index into the history of ``set_opponent``) each game plays now."""
            return self._opponent_of.copy()

        def set_opponent(self, new_opponent: Policy) -> None:
            """Play ``new_opponent`` from each game's next episode on."""
            self._check_opponent(new_opponent)
            self._opponents.append(new_opponent)
            self._pending = len(self._opponents) - 1

        def reset(self):
            game = self._game
            if self._seeds[0] is not None:
                game.seed(int(self._seeds[0]))
                self._seat_rng = np.random.default_rng(self._seeds[0])
            game.reset()
            self._opponent_of[:] = self._pending
            self._reset_seeds()
            self._reset_options()
            return game.obs[self._rows, self._seat].copy()

        def step_async(self, actions: np.ndarray) -> None:
            game = self._game
            if not game.has_reset:
                raise GameError(f"{label}: call reset() before stepping")
            learner = _check_vector_actions(label, actions, game.action_shape(self.num_envs))
            agents = game.num_agents
            others = [(self._seat + k) % agents for k in range(1, agents)]
            opponent_actions = []
            for seat_of_other in others:
                acts = np.empty(game.action_shape(self.num_envs), dtype=np.int64)
                for index in np.unique(self._opponent_of):
                    rows = np.flatnonzero(self._opponent_of == index)
                    obs = game.obs[rows, seat_of_other[rows]]
                    out = np.asarray(self._opponents[index](obs))
                    if out.shape != game.action_shape(len(rows)) or out.dtype.kind not in "iu":
                        raise InvalidAction(
                            f"{label}: the opponent returned actions of shape {out.shape} "
                            f"and dtype {out.dtype}; expected integers of shape "
                            f"{game.action_shape(len(rows))}"
                        )
                    acts[rows] = out
                opponent_actions.append((seat_of_other, acts))
            game.write_actions((self._rows, self._seat), learner)
            for seat_of_other, acts in opponent_actions:
                game.write_actions((self._rows, seat_of_other), acts)

        def step_wait(self):
            game, rows, seat = self._game, self._rows, self._seat
            game.step()
            learner_dead = ~game.game_over & game.terminated[rows, seat]
            if learner_dead.any():  # the learner's episode is over: restart its game
                game.final_obs[learner_dead] = game.obs[learner_dead]
                game.final_return[learner_dead] = game.agent_return[learner_dead]
                game.final_length[learner_dead] = game.length[learner_dead]
                game.reset(learner_dead)
            ended = game.game_over | learner_dead
            rewards = game.reward[rows, seat].astype(np.float32)
            infos = step_infos(self.num_envs)
            finished = np.flatnonzero(ended)
            if finished.size:
                s = seat[finished]
                time_limit = game.truncated[finished, s] & ~game.terminated[finished, s]
                elapsed = round(time.time() - self._t_start, 6)
                for g, final, ret, length, limit, learner_seat, opponent_index in zip(
                    finished.tolist(),
                    game.final_obs[finished, s],  # rows of a new array: each info owns its own
                    np.round(game.final_return[finished, s], 6).tolist(),
                    game.final_length[finished].tolist(),
                    time_limit.tolist(),
                    s.tolist(),
                    self._opponent_of[finished].tolist(),
                    strict=True,
                ):
                    info = infos[g]
                    info["TimeLimit.truncated"] = limit
                    info["terminal_observation"] = final
                    info["episode"] = {"r": ret, "l": length, "t": elapsed}
                    info["seat"] = learner_seat
                    info["opponent"] = opponent_index
                self._opponent_of[finished] = self._pending
                if self._seat_mode == "alternate":
                    seat[finished] = (seat[finished] + 1) % game.num_agents
                elif self._seat_mode == "random":
                    seat[finished] = self._seat_rng.integers(0, game.num_agents, finished.size)
            obs = game.obs[rows, seat].copy()
            return obs, rewards, ended, infos

    return VsOpponentVecEnv()
