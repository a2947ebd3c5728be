"""The vs-opponent SB3 view of a multi-agent game: :class:`VsOpponentVecEnv`, one row per
game for the learner's seat while an opponent policy plays the other seats, batched across
games."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from thrust_envs.core.batch import InvalidAction, refuse_wrapping_integers, step_infos
from thrust_envs.core.games import GameDefinition
from thrust_envs.sb3.base import (
    GameVecEnvBase,
    check_integer_actions,
    fill_episode_infos,
)

Policy = Callable[[np.ndarray], Any]


class PredictPolicy:
    """An opponent given as an object with SB3's ``predict(obs, deterministic=...)`` (an SB3
    model, a thrust_export ``NumpyPolicy`` or ``OnnxPolicy``): called as
    ``predict(obs, deterministic=deterministic)``, its ``(actions, state)`` answer unpacked."""

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        self.model = model
        self.deterministic = deterministic

    def __call__(self, obs: np.ndarray) -> Any:
        return self.model.predict(obs, deterministic=self.deterministic)

    def __repr__(self) -> str:
        return f"PredictPolicy({self.model!r}, deterministic={self.deterministic})"


def as_policy(label: str, opponent: Any) -> Policy:
    """``opponent`` as a callable from an observation batch to actions: itself if callable
    (and without ``predict``), :class:`PredictPolicy` around an object with ``predict``, or a
    TypeError naming both accepted kinds."""
    if hasattr(opponent, "predict") and callable(opponent.predict):
        return PredictPolicy(opponent)
    if callable(opponent):
        return opponent
    raise TypeError(
        f"{label}: the opponent must be a callable from an observation batch to an action "
        f"batch, or an object with SB3's predict(obs, deterministic=True) (an SB3 model, a "
        f"thrust_export NumpyPolicy); got {opponent!r}"
    )


def without_policy_state(label: str, answer: Any) -> Any:
    """An opponent's answer without SB3's ``predict`` state: ``predict`` answers
    ``(actions, state)``, with ``state`` None for the feed-forward policies an opponent can be
    (a recurrent policy's state, a tuple, cannot be carried from step to step here, so it is
    an error); any other answer is returned as it is."""
    if (
        isinstance(answer, tuple)
        and len(answer) == 2
        and (answer[1] is None or isinstance(answer[1], tuple))
    ):
        actions, state = answer
        if state is not None:
            raise TypeError(
                f"{label}: the opponent returned (actions, state) with a recurrent state; "
                "vs_opponent does not carry policy states between steps: use a feed-forward "
                "policy"
            )
        return actions
    return answer


def opponent_actions(
    label: str,
    opponent: Policy,
    obs: np.ndarray,
    expected: tuple[int, ...],
    who: str = "the opponent",
) -> np.ndarray:
    """``opponent``'s actions for the observation batch ``obs``, checked: integers of shape
    ``expected``, or :class:`InvalidAction` naming ``who`` and both shapes."""
    out = np.asarray(without_policy_state(label, opponent(obs)))
    if out.shape != expected or out.dtype.kind not in "iu":
        raise InvalidAction(
            f"{label}: {who} returned actions of shape {out.shape} and dtype {out.dtype}; "
            f"expected integers of shape {expected}"
        )
    refuse_wrapping_integers(f"{label}: {who}", out, "the action space")
    return out


class VsOpponentVecEnv(GameVecEnvBase):
    """Row ``g`` is the learner's seat in game ``g``; ``opponent`` plays every other seat,
    called once per step per seat and opponent on the batch of games it plays.

    ``seat``: an agent index (fixed), ``"alternate"`` (game ``g`` starts in seat ``g % A`` and
    moves to the next seat after each of its episodes) or ``"random"`` (a seat drawn per
    episode). ``set_opponent`` swaps the opponent game by game, at each game's next episode
    boundary, never mid-episode. An episode ends when the game ends or the learner dies (then
    its game restarts). Finished episodes' infos add ``seat`` and ``opponent`` (the index of
    the opponent in the history of ``set_opponent``, 0 for the first) to SB3's keys.

    :param definition: the game (at least two seats).
    :param opponent: a callable from an observation batch ``[k, *obs_shape]`` to an action batch
        ``[k]`` (``[k, K]`` for MultiDiscrete actions), such as a scripted bot or an SB3
        model's bound ``predict`` (its ``(actions, state)`` answer is unpacked; called as
        ``predict(obs)``, it samples unless given ``deterministic=True`` by a
        ``functools.partial``); or an object with SB3's ``predict`` (an SB3 model, a
        thrust_export ``NumpyPolicy``), called as ``predict(obs, deterministic=True)``.
    :param n_envs: number of games.
    :param seat: see above.
    :param seed: seed of the first reset (game ``g`` gets ``seed + g``) and of the random seats.
    :param num_threads: numba threads for large batches (results do not depend on it).
    :param kwargs: the game's parameters.
    """

    def __init__(
        self,
        definition: GameDefinition,
        opponent: Policy,
        n_envs: int,
        seat: int | str = "alternate",
        seed: int | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        game = self._build_game(definition, n_envs, num_threads, kwargs)
        label = self.env_id
        if game.num_agents < 2:
            raise ValueError(f"{label}: vs_opponent needs a game with at least two seats")
        self._opponents: list[Policy] = [as_policy(label, opponent)]
        self._pending = 0
        self._opponent_of = np.zeros(n_envs, dtype=np.int64)
        # the opponent every game plays, while they all play the same one (else None)
        self._common_opponent: int | None = 0
        if isinstance(seat, (int, np.integer)) and not isinstance(seat, bool):
            if not 0 <= seat < game.num_agents:
                raise ValueError(
                    f"{label}: seat must be in [0, {game.num_agents}), 'alternate' or "
                    f"'random', got {seat}"
                )
            seat = int(seat)
        elif seat not in ("alternate", "random"):
            raise ValueError(
                f"{label}: seat must be an agent index, 'alternate' or 'random', got {seat!r}"
            )
        self._seat_mode = seat
        self._rows = np.arange(n_envs)
        self._seat_rng = np.random.default_rng(seed)
        self._seat = self._first_seats()
        self._start(n_envs, seed)

    def _first_seats(self) -> np.ndarray:
        """The learner's seat in each game when the games (re)start: ``seat``, ``g % A``
        (alternate), or a draw from the seat stream (random)."""
        agents, n = self._game.num_agents, len(self._rows)
        if self._seat_mode == "alternate":
            return self._rows % agents
        if self._seat_mode == "random":
            return self._seat_rng.integers(0, agents, n)
        return np.full(n, self._seat_mode, dtype=np.int64)

    @property
    def seats(self) -> np.ndarray:
        """The learner's current seat in each game (int64 ``[n_envs]``)."""
        return self._seat.copy()

    @property
    def opponents(self) -> np.ndarray:
        """Which opponent (index into the history of ``set_opponent``) each game plays now."""
        return self._opponent_of.copy()

    def set_opponent(self, new_opponent: Any) -> None:
        """Play ``new_opponent`` (as ``opponent`` in the constructor) from each game's next
        episode on."""
        self._opponents.append(as_policy(self.env_id, new_opponent))
        self._pending = len(self._opponents) - 1

    # -- the VecEnv contract -------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        seed = self._reset_game()
        if seed is not None:
            self._seat_rng = np.random.default_rng(seed)
        # Every game starts a new episode: the seats start over, as in a fresh view, so that
        # the same seed gives the same games.
        self._seat = self._first_seats()
        self._opponent_of[:] = self._pending
        self._common_opponent = self._pending
        return self._game.obs[self._rows, self._seat].copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Check the learner's actions, ask the opponents for theirs (all checked before any
        is written), then write them all into the games."""
        game = self._steppable_game()
        learner = check_integer_actions(
            self.env_id, actions, game.action_shape(self.num_envs), game.action_space
        )
        agents = game.num_agents
        others = [(self._seat + k) % agents for k in range(1, agents)]
        opponent_actions = [self._opponent_actions(seat_of_other) for seat_of_other in others]
        game.write_actions((self._rows, self._seat), learner)
        for seat_of_other, acts in zip(others, opponent_actions, strict=True):
            game.write_actions((self._rows, seat_of_other), acts)
        self._step_pending = True

    def step_wait(self) -> VecEnvStepReturn:
        self._take_pending_step()
        game, rows, seat = self._game, self._rows, self._seat
        game.step()
        learner_dead = self._restart_games_of_dead_learners()
        ended = game.game_over | learner_dead
        rewards = game.reward[rows, seat].astype(np.float32)
        infos = step_infos(self.num_envs)
        finished = np.flatnonzero(ended)
        if finished.size:
            self._fill_finished(finished, infos)
            self._start_next_episodes(finished)
        obs = game.obs[rows, seat].copy()
        return obs, rewards, ended, infos

    # -- the steps of a step --------------------------------------------------------------------

    def _opponent_actions(self, seat_of_other: np.ndarray) -> np.ndarray:
        """The actions of seat ``seat_of_other[g]`` of every game ``g``: each opponent called
        once on the observations of the games it plays, its answer checked."""
        game = self._game
        common = self._common_opponent
        if common is not None:  # one call on every game, without grouping them
            obs = game.obs[self._rows, seat_of_other]
            expected = game.action_shape(self.num_envs)
            return opponent_actions(self.env_id, self._opponents[common], obs, expected)
        acts = np.empty(game.action_shape(self.num_envs), dtype=np.int64)
        for index in np.unique(self._opponent_of):
            rows = np.flatnonzero(self._opponent_of == index)
            obs = game.obs[rows, seat_of_other[rows]]
            acts[rows] = opponent_actions(
                self.env_id, self._opponents[index], obs, game.action_shape(len(rows))
            )
        return acts

    def _restart_games_of_dead_learners(self) -> np.ndarray:
        """Games whose learner died while the game goes on: their episode is over, so keep
        its final observation, return and length aside and restart the game. Bool ``[G]``."""
        game = self._game
        learner_dead = ~game.game_over & game.terminated[self._rows, self._seat]
        if learner_dead.any():
            game.final_obs[learner_dead] = game.obs[learner_dead]
            game.final_return[learner_dead] = game.agent_return[learner_dead]
            game.final_length[learner_dead] = game.length[learner_dead]
            game.reset(learner_dead)
        return learner_dead

    def _fill_finished(self, finished: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """SB3's keys for the learner's finished episodes, plus its seat and opponent."""
        game = self._game
        seat = self._seat[finished]
        rows = finished.tolist()
        fill_episode_infos(
            infos,
            rows,
            game.final_obs[finished, seat],  # rows of a new array: each info owns its own
            game.final_return[finished, seat],
            game.final_length[finished].tolist(),
            (game.truncated[finished, seat] & ~game.terminated[finished, seat]).tolist(),
            self._elapsed(),
        )
        for g, learner_seat, opponent_index in zip(
            rows, seat.tolist(), self._opponent_of[finished].tolist(), strict=True
        ):
            infos[g]["seat"] = learner_seat
            infos[g]["opponent"] = opponent_index

    def _start_next_episodes(self, finished: np.ndarray) -> None:
        """The finished games adopt the latest opponent and, unless fixed, a new seat."""
        self._opponent_of[finished] = self._pending
        if self._common_opponent != self._pending:
            together = bool((self._opponent_of == self._pending).all())
            self._common_opponent = self._pending if together else None
        seat = self._seat
        if self._seat_mode == "alternate":
            seat[finished] = (seat[finished] + 1) % self._game.num_agents
        elif self._seat_mode == "random":
            seat[finished] = self._seat_rng.integers(0, self._game.num_agents, finished.size)
