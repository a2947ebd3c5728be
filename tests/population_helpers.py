"""A tiny two-player game honouring ``thrust_envs.vs_opponent``'s contract, for the
thrust_population tests (and ``benchmarks/population.py``) until the real games land.

``vs_opponent(env_id, opponent, n_envs, seat=0, seed=None)`` returns an SB3 ``VecEnv`` of
``n_envs`` games of one of :data:`GAMES`; the caller plays ``seat`` (0, 1 or "alternate": row i
starts in seat i % 2 and swaps seats after each game, as thrust_envs' does) and ``opponent``
(observation batch -> action batch) the other; finished games' infos carry ``episode`` and
``seat``. Observations are
egocentric float32 ``[n_envs, 4]``: (my seat, step / max_steps, my last action, the other's last
action), actions are Discrete. Each step is a rally:

- ``duel`` games: action ``k`` plays with strength ``strengths[k]`` (Elo); seat 0 wins the rally
  with probability ``1 / (1 + 10 ** ((s1 - s0 - seat_bonus) / 400))``, unless it is undecided
  (probability ``undecided``);
- ``rps``: rock (0), paper (1), scissors (2); equal actions leave the rally undecided.

The first decided rally ends the game (return +1 or -1 for the caller); after ``max_steps``
undecided rallies it is a draw (return 0, truncation). With ``undecided = 0`` and one step,
a game between strengths ``a`` and ``b`` is exactly a Bradley–Terry trial.

Bots (registered on import): ``level:K`` (always action K) for the duel games, ``rock``,
``paper``, ``scissors`` for RPS; the built-in ``random`` works for all.

``vs_opponent.check_game(env_id)`` raises ``GameUnavailable`` for unknown IDs and for
``Toy/Solo-v0``, a one-player game.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from thrust_algos import PPO as _PPO
from thrust_population.matches import GameInfo, GameUnavailable
from thrust_population.players import register_bot

GAMES: dict[str, dict[str, Any]] = {
    "Toy/Duel-v0": {
        "mode": "duel",
        "strengths": (0.0, 150.0, 300.0, 450.0, 600.0),
        "undecided": 0.0,
        "max_steps": 1,
        "seat_bonus": 0.0,
    },
    "Toy/LongDuel-v0": {
        "mode": "duel",
        "strengths": (0.0, 150.0, 300.0, 450.0, 600.0),
        "undecided": 0.6,
        "max_steps": 6,
        "seat_bonus": 60.0,
    },
    "Toy/RPS-v0": {"mode": "rps", "max_steps": 3},
}
ONE_PLAYER = {"Toy/Solo-v0"}


class DuelVecEnv(VecEnv):
    """``n_envs`` games of a toy two-player game against ``opponent`` (see the module)."""

    render_mode = None

    def __init__(self, env_id: str, opponent: Any, n_envs: int, seat: int | str = 0) -> None:
        config = GAMES[env_id]
        self.env_id = env_id
        self.mode = config["mode"]
        self.max_steps = int(config["max_steps"])
        if self.mode == "duel":
            self.strengths = np.asarray(config["strengths"], dtype=np.float64)
            self.undecided = float(config["undecided"])
            self.seat_bonus = float(config["seat_bonus"])
            n_actions = len(self.strengths)
        else:
            n_actions = 3
        self.n_actions = n_actions
        self.opponent = opponent
        self.alternate = seat == "alternate"
        if seat == "alternate":
            self.my_seat = np.arange(n_envs) % 2
        elif seat in (0, 1):
            self.my_seat = np.full(n_envs, int(seat))
        else:
            raise ValueError(f"seat must be 0, 1 or 'alternate', got {seat!r}")
        self.first_seat = self.my_seat.copy()
        self.t = np.zeros(n_envs, dtype=np.int64)
        self.last = np.zeros((n_envs, 2), dtype=np.int64)  # last action of seat 0, seat 1
        self.rng = np.random.default_rng()
        self._actions: np.ndarray | None = None
        super().__init__(n_envs, spaces.Box(0.0, 1.0, (4,), np.float32), spaces.Discrete(n_actions))

    # -- the game ----------------------------------------------------------------------------

    def _observe(self, seat_of_view: np.ndarray) -> np.ndarray:
        rows = np.arange(self.num_envs)
        obs = np.empty((self.num_envs, 4), dtype=np.float32)
        obs[:, 0] = seat_of_view
        obs[:, 1] = self.t / self.max_steps
        obs[:, 2] = self.last[rows, seat_of_view] / max(1, self.n_actions - 1)
        obs[:, 3] = self.last[rows, 1 - seat_of_view] / max(1, self.n_actions - 1)
        return obs

    def _check(self, actions: Any) -> np.ndarray:
        actions = np.asarray(actions).reshape(-1).astype(np.int64)
        if (
            actions.shape != (self.num_envs,)
            or np.any(actions < 0)
            or np.any(actions >= self.n_actions)
        ):
            raise ValueError(f"{self.env_id}: invalid actions {actions!r}")
        return actions

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self.rng = np.random.default_rng(seed)
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        self.my_seat[:] = self.first_seat
        self.t[:] = 0
        self.last[:] = 0
        return self._observe(self.my_seat)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = self._check(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None
        mine = self._actions
        theirs = self._check(self.opponent(self._observe(1 - self.my_seat)))
        a0 = np.where(self.my_seat == 0, mine, theirs)
        a1 = np.where(self.my_seat == 0, theirs, mine)
        if self.mode == "duel":
            diff = self.strengths[a1] - self.strengths[a0] - self.seat_bonus
            p0 = 1.0 / (1.0 + 10.0 ** (diff / 400.0))
            undecided = self.rng.random(self.num_envs) < self.undecided
            seat0_wins = self.rng.random(self.num_envs) < p0
        else:
            beat = (a0 - a1) % 3
            undecided = beat == 0
            seat0_wins = beat == 1
        self.last[:, 0], self.last[:, 1] = a0, a1
        self.t += 1
        decided = ~undecided
        i_win = np.where(self.my_seat == 0, seat0_wins, ~seat0_wins)
        rewards = np.where(decided, np.where(i_win, 1.0, -1.0), 0.0).astype(np.float32)
        truncated = undecided & (self.t >= self.max_steps)
        dones = decided | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        obs = self._observe(self.my_seat)
        for i in np.flatnonzero(dones):
            infos[i] = {
                "episode": {"r": float(rewards[i]), "l": int(self.t[i])},
                "terminal_observation": obs[i].copy(),
                "TimeLimit.truncated": bool(truncated[i]),
                "seat": int(self.my_seat[i]),
            }
        if self.alternate:
            self.my_seat[dones] = 1 - self.my_seat[dones]
        self.t[dones] = 0
        self.last[dones] = 0
        if dones.any():
            obs = self._observe(self.my_seat)
        return obs, rewards, dones, infos

    # -- the rest of SB3's VecEnv interface ------------------------------------------------------

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in range(self.num_envs)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kw: Any) -> list:
        return [getattr(self, method_name)(*args, **kw) for _ in range(self.num_envs)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * self.num_envs


def check_game(env_id: str) -> None:
    if env_id in ONE_PLAYER:
        raise GameUnavailable(f"{env_id!r} is not a two-player game; a match needs two sides")
    if env_id not in GAMES:
        raise GameUnavailable(f"unknown environment {env_id!r}; toy games: {sorted(GAMES)}")


def vs_opponent(
    env_id: str, opponent: Any, n_envs: int, seat: int | str = 0, seed: int | None = None
) -> DuelVecEnv:
    """The toy games' vs-opponent factory (the contract of ``thrust_envs.vs_opponent``)."""
    check_game(env_id)
    venv = DuelVecEnv(env_id, opponent, n_envs, seat)
    venv.seed(seed)
    return venv


vs_opponent.check_game = check_game  # type: ignore[attr-defined]


# -- bots -------------------------------------------------------------------------------------


def constant(action: int) -> Any:
    def policy(obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), action, dtype=np.int64)

    return policy


def _level_bot(arg: str | None, game: GameInfo, seed: int) -> Any:
    if arg is None:
        raise ValueError("level needs a strength index, e.g. level:2")
    level = int(arg)
    if not 0 <= level < game.action_space.n:
        raise ValueError(f"level must lie in [0, {game.action_space.n})")
    return constant(level)


DUEL_GAMES = tuple(k for k, v in GAMES.items() if v["mode"] == "duel")
register_bot("level", _level_bot, games=DUEL_GAMES, doc="always plays strength K", replace=True)
for _index, _name in enumerate(("rock", "paper", "scissors")):

    def _rps_bot(arg: str | None, game: GameInfo, seed: int, action: int = _index) -> Any:
        if arg is not None:
            raise ValueError("takes no argument")
        return constant(action)

    register_bot(_name, _rps_bot, games=("Toy/RPS-v0",), replace=True)


def bt_probability(a: float, b: float) -> float:
    """P(strength a beats strength b) on the Elo scale."""
    return 1.0 / (1.0 + math.pow(10.0, (b - a) / 400.0))


class DyingPPO(_PPO):
    """A PPO whose ``learn`` kills its own process with SIGKILL: a worker (a pool process or a
    Ray task's worker) that dies while training."""

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def check_pool_leaves_out_a_member_frozen_between_reads(directory: Any, monkeypatch: Any) -> None:
    """A league's matchmaking pool for generation 2 of the finished run at ``directory``, with
    its store's ``members()`` read missing the newest generation-2 member (as when a Ray worker
    reads while the driver freezes that generation's first learners), equals the pool read
    without the race: a member in a later read but not the earlier one is of this generation."""
    from thrust_population import League

    with League.open(directory, readonly=True) as league:
        expected = league._pool(2)
        members = league.store.members()
        newest = [m for m in members if m.generation == 2]
        assert newest, "the run has a generation-2 member"
        stale = [m for m in members if m.name != newest[-1].name]
        monkeypatch.setattr(league.store, "members", lambda: stale)
        pool = league._pool(2)
        assert pool.names == expected.names
        np.testing.assert_array_equal(pool.games, expected.games)
