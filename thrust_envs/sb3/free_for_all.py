"""The free-for-all SB3 view of a multi-agent game: :class:`FreeForAllVecEnv`, a learner holding
several seats of every game (parameter sharing) while opponent policies fill the others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from thrust_envs.core.batch import step_infos
from thrust_envs.core.games import GameDefinition
from thrust_envs.sb3.base import (
    GameVecEnvBase,
    check_integer_actions,
    fill_episode_infos,
)
from thrust_envs.sb3.vs_opponent import Policy, as_policy, opponent_actions

#: :attr:`FreeForAllVecEnv.lineups` marks the learner's seats with this value.
LEARNER = -1


class FreeForAllVecEnv(GameVecEnvBase):
    """Free-for-all training with parameter sharing: in each of ``n_games`` games the learner
    holds ``learner_seats`` seats, one row each (``n_games * learner_seats`` rows; row
    ``g * L + j`` is the learner's ``j``-th seat in game ``g``), and the other ``A - L`` seats
    are filled by ``opponents``.

    At the start of each of a game's episodes its seating is drawn: which seats are the
    learner's (a random permutation of the ``A`` seats, the first ``L`` to the learner) and
    which opponent sits in each other seat (uniformly, with replacement: give an opponent
    several times to weight it, as a matchmaker's draws do). Every opponent is called once per
    step on the stacked observations of all the live seats it holds, across games.

    A learner's row is ``done`` when its agent dies or its game ends. Until its game ends, a
    dead row reads zero observations and rewards and its actions are ignored (the "black
    death" padding of :class:`~thrust_envs.sb3.shared.SharedGameVecEnv`), except that a game
    whose learner seats are all dead restarts at once (the opponents playing on alone would
    train nothing). Finished episodes' infos add ``seat`` (the learner's seat) to SB3's keys.

    :param definition: the game (at least two seats).
    :param opponents: the ``K`` opponents, each a callable from an observation batch
        ``[k, *obs_shape]`` to an action batch ``[k]`` (``[k, K]`` for MultiDiscrete) or an
        object with SB3's ``predict`` (played ``deterministic=True``), as
        :class:`~thrust_envs.sb3.vs_opponent.VsOpponentVecEnv` takes.
    :param n_games: number of games ``G``.
    :param learner_seats: the learner's seats per game, ``1 <= L < A``.
    :param seed: seed of the first reset (game ``g`` gets ``seed + g``) and of the seatings.
    :param num_threads: numba threads for large batches (results do not depend on it).
    :param kwargs: the game's parameters.
    """

    def __init__(
        self,
        definition: GameDefinition,
        opponents: Sequence[Any],
        n_games: int,
        learner_seats: int,
        seed: int | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        game = self._build_game(definition, n_games, num_threads, kwargs)
        label = self.env_id
        agents = game.num_agents
        if agents < 2:
            raise ValueError(f"{label}: a free-for-all needs a game with at least two seats")
        if (
            isinstance(learner_seats, bool)
            or not isinstance(learner_seats, (int, np.integer))
            or not 1 <= learner_seats < agents
        ):
            raise ValueError(
                f"{label}: learner_seats must be an int in [1, {agents - 1}] (the game has "
                f"{agents} seats and at least one is an opponent's), got {learner_seats!r}"
            )
        if isinstance(opponents, (str, bytes)) or not isinstance(opponents, Sequence):
            raise TypeError(f"{label}: opponents must be a sequence of policies, got {opponents!r}")
        if not opponents:
            raise ValueError(f"{label}: a free-for-all needs at least one opponent")
        self._opponents: list[Policy] = [as_policy(label, o) for o in opponents]
        self.learner_seats = int(learner_seats)
        self._lineup = np.full((game.num_games, agents), LEARNER, dtype=np.int64)
        self._seat = np.zeros((game.num_games, self.learner_seats), dtype=np.int64)
        self._games = np.repeat(np.arange(game.num_games), self.learner_seats)
        self._seating_rng = np.random.default_rng(seed)
        self._start(game.num_games * self.learner_seats, seed)

    @property
    def seats(self) -> np.ndarray:
        """The learner's seats now, int64 ``[G, L]`` (row ``g * L + j`` plays ``seats[g, j]``)."""
        return self._seat.copy()

    @property
    def lineups(self) -> np.ndarray:
        """Who sits where now, int64 ``[G, A]``: an opponent's index, or :data:`LEARNER`."""
        return self._lineup.copy()

    @property
    def opponents(self) -> list[Policy]:
        """The opponents, in the order :attr:`lineups` indexes them."""
        return list(self._opponents)

    def _draw_seating(self, games: np.ndarray) -> None:
        """New seatings for the games of bool mask ``games`` (see the class docstring)."""
        index = np.flatnonzero(games)
        if not index.size:
            return
        agents, learners = self._game.num_agents, self.learner_seats
        rng = self._seating_rng
        order = rng.permuted(np.tile(np.arange(agents), (index.size, 1)), axis=1)
        seats = np.sort(order[:, :learners], axis=1)  # the learner's rows in seat order
        fillers = rng.integers(0, len(self._opponents), (index.size, agents - learners))
        lineup = np.full((index.size, agents), LEARNER, dtype=np.int64)
        np.put_along_axis(lineup, order[:, learners:], fillers, axis=1)
        self._seat[index] = seats
        self._lineup[index] = lineup

    # -- the VecEnv contract -------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        seed = self._reset_game()
        if seed is not None:
            self._seating_rng = np.random.default_rng(seed)
        game = self._game
        self._draw_seating(np.ones(game.num_games, dtype=np.bool_))
        return game.obs[self._games, self._seat.reshape(-1)].copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Check the learner's actions, ask the opponents for theirs (all checked before any
        is written), then write them all into the games."""
        game = self._steppable_game()
        learner = check_integer_actions(
            self.env_id, actions, game.action_shape(self.num_envs), game.action_space
        )
        answers = []
        for index, opponent in enumerate(self._opponents):
            rows = np.nonzero((self._lineup == index) & game.alive)
            if not rows[0].size:
                continue
            expected = game.action_shape(rows[0].size)
            out = opponent_actions(
                self.env_id, opponent, game.obs[rows], expected, who=f"opponent {index}"
            )
            answers.append((rows, out))
        game.actions[...] = 0  # dead seats: any valid action (the kernel ignores them)
        game.write_actions((self._games, self._seat.reshape(-1)), learner)
        for rows, out in answers:
            game.write_actions(rows, out)

    def step_wait(self) -> VecEnvStepReturn:
        game, games = self._game, self._games
        game.step()
        seat = self._seat.reshape(-1)
        was_alive = game.was_alive[games, seat]
        over = game.game_over[games]
        terminated, truncated = game.terminated[games, seat], game.truncated[games, seat]
        dones = was_alive & (terminated | truncated)
        rewards = np.where(was_alive, game.reward[games, seat], 0.0).astype(np.float32)
        infos = step_infos(self.num_envs)
        finished = np.flatnonzero(dones)
        if finished.size:
            g, s = games[finished], seat[finished]
            ended = over[finished]
            fill_episode_infos(
                infos,
                finished.tolist(),
                np.where(ended[:, None], game.final_obs[g, s], game.obs[g, s]),
                np.where(ended, game.final_return[g, s], game.agent_return[g, s]),
                np.where(ended, game.final_length[g], game.length[g]).tolist(),
                (truncated[finished] & ~terminated[finished]).tolist(),
                self._elapsed(),
            )
            for row, learner_seat in zip(finished.tolist(), s.tolist(), strict=True):
                infos[row]["seat"] = learner_seat
        learners_dead = ~game.alive[np.arange(game.num_games)[:, None], self._seat].any(axis=1)
        restart = learners_dead & ~game.game_over
        if restart.any():
            game.reset(restart)
        new_episode = restart | game.game_over
        self._draw_seating(new_episode)
        seat = self._seat.reshape(-1)
        showing = new_episode[games] | game.alive[games, seat]
        obs = game.obs[games, seat]  # a new array (fancy indexing)
        obs[~showing] = 0
        return obs, rewards, dones, infos
