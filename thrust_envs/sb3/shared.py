"""The parameter-sharing SB3 view of a multi-agent game: :class:`SharedGameVecEnv`, one row
per (game, agent), every game stepped in one kernel call."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from thrust_envs.core.batch import step_infos
from thrust_envs.core.games import GameDefinition
from thrust_envs.core.kernels import DirectCalls
from thrust_envs.sb3.base import (
    GameVecEnvBase,
    check_integer_actions,
    fill_episode_infos,
)


@njit(cache=True)
def shared_step_rows(
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
def shared_finished_rows(
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


class SharedGameVecEnv(GameVecEnvBase):
    """Parameter sharing: rows ``g * A + a`` are agent ``a`` of game ``g``, ``n_games * A``
    rows; all games stepped in one kernel call.

    A finished game resets in the same step (its rows get ``terminal_observation``,
    ``TimeLimit.truncated`` and ``episode``). An agent that dies before its game ends is
    ``done`` at once; until the game ends its row reads zero observations and rewards and
    its actions are ignored (the usual "black death" padding for a fixed number of rows).
    Game ``g`` is seeded with ``seed + g`` (its rows share it).

    :param definition: the game (e.g. ``thrust_envs.multiagent.pong.DEFINITION``).
    :param n_games: number of games ``G``.
    :param seed: seed of the first reset, or None.
    :param num_threads: numba threads for large batches (results do not depend on it).
    :param kwargs: the game's parameters.
    """

    def __init__(
        self,
        definition: GameDefinition,
        n_games: int,
        seed: int | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        game = self._build_game(definition, n_games, num_threads, kwargs)
        self._direct = DirectCalls()
        self._view_rows()
        self._start(game.num_games * game.num_agents, seed)

    def _view_rows(self) -> None:
        # Views [G, A, F] of the game's observation buffers, for the numba passes.
        game = self._game
        self._obs_rows = game.obs.reshape(game.num_games, game.num_agents, -1)
        self._final_obs_rows = game.final_obs.reshape(game.num_games, game.num_agents, -1)

    def __getstate__(self) -> dict[str, Any]:
        # The [G, A, F] views would unpickle as copies, no longer sharing the game's buffers.
        return {k: v for k, v in self.__dict__.items() if k not in ("_obs_rows", "_final_obs_rows")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._view_rows()

    def reset(self) -> VecEnvObs:
        self._reset_game()
        game = self._game
        return game.obs.reshape(self.num_envs, *game.observation_space.shape).copy()

    def step_async(self, actions: np.ndarray) -> None:
        game = self._steppable_game()
        a = check_integer_actions(
            self.env_id, actions, game.action_shape(self.num_envs), game.action_space
        )
        game.actions[...] = a.reshape(game.actions.shape)
        self._step_pending = True

    def step_wait(self) -> VecEnvStepReturn:
        self._take_pending_step()
        game = self._game
        game.step()
        n, shape = self.num_envs, game.observation_space.shape
        obs = np.empty((n, *shape), dtype=game.obs.dtype)
        rewards = np.empty(n, dtype=np.float32)
        dones = np.empty(n, dtype=np.bool_)
        done_rows = self._direct(
            shared_step_rows,
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
            self._fill_finished(dones, done_rows, infos)
        return obs, rewards, dones, infos

    def _fill_finished(self, dones: np.ndarray, done_rows: int, infos: list[dict]) -> None:
        """Gather what the finished rows report in one numba pass, then fill their dicts from
        plain lists: per row, only the dict writes remain."""
        game = self._game
        rows = np.empty(done_rows, dtype=np.int64)
        terminal = np.empty((done_rows, *game.observation_space.shape), dtype=game.obs.dtype)
        returns = np.empty(done_rows)
        lengths = np.empty(done_rows, dtype=np.int64)
        time_limit = np.empty(done_rows, dtype=np.bool_)
        self._direct(
            shared_finished_rows,
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
        fill_episode_infos(
            infos,
            rows.tolist(),
            terminal,  # rows of a new array: each info owns its observation
            returns,
            lengths.tolist(),
            time_limit.tolist(),
            self._elapsed(),
        )
