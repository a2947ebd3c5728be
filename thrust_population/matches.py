"""Matches: many games between two players at once, through a batched vs-opponent VecEnv.

A *game* is a two-player environment seen from one seat: an env factory

    ``env_factory(env_id, opponent, n_envs, seat, seed) -> VecEnv``

returns a Stable-Baselines3 ``VecEnv`` of ``n_envs`` games in which the caller plays ``seat``
(0, 1, or ``"alternate"``: row ``i`` starts in seat ``i % 2``) and ``opponent`` (a callable
observation batch ``[k, obs_dim]`` -> action batch ``[k]``) plays the other seat. At the end of an
episode the row's info carries ``info["episode"]["r"]``, the caller's return, whose sign is the
result (> 0 win, 0 draw, < 0 loss), and ``info["seat"]``, the seat the caller held in that game
(if absent, the row's starting seat is recorded). The default factory is
``thrust_envs.vs_opponent``; a factory may also define ``check_game(env_id)`` and
``game_bots(env_id)`` (the scripted players the game ships).

:func:`play_match` plays ``games`` games between A (the caller's seat) and B (the opponent) in
one such VecEnv. Like SB3's ``evaluate_policy``, row ``i`` of ``n_envs`` plays exactly
``(games + i) // n_envs`` games, so short games are not over-represented, and the games are
recorded in the order they finish. Given the seed and deterministic players the match is
reproducible: :func:`replay_match` plays it again.

Results are strings with one character per game: ``W``/``D``/``L`` when A played seat 0 and
``w``/``d``/``l`` when it played seat 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from thrust_population.imports import import_object

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

__all__ = [
    "OUTCOME_SCORES",
    "EnvFactory",
    "GameInfo",
    "GameUnavailable",
    "MatchResult",
    "Policy",
    "Seat",
    "check_game",
    "check_seed",
    "default_env_factory",
    "load_env_factory",
    "play_match",
    "replay_match",
]

#: A player: observation batch ``[k, obs_dim]`` -> action batch ``[k]`` (or ``[k, act_dim]``).
Policy = Callable[[np.ndarray], np.ndarray]

#: Which seat A plays: 0, 1, or "alternate" (row ``i`` starts in seat ``i % 2``).
Seat = int | str


class EnvFactory(Protocol):
    """Builds the batched vs-opponent VecEnv of a two-player game (see the module docstring).

    A factory may also define ``check_game(env_id) -> None``, raising :class:`GameUnavailable`
    for IDs it does not know or games without two sides; :func:`check_game` calls it.
    """

    def __call__(
        self, env_id: str, opponent: Policy, n_envs: int, seat: Seat = 0, seed: int | None = None
    ) -> VecEnv: ...


#: Score of A for each outcome character (upper case: A in seat 0, lower case: seat 1).
OUTCOME_SCORES: dict[str, float] = {"W": 1.0, "D": 0.5, "L": 0.0, "w": 1.0, "d": 0.5, "l": 0.0}


class GameUnavailable(ValueError):
    """No two-player game to play: the environment is unknown or is not a two-player game, or
    its env factory cannot be loaded. (Not ``thrust_envs.GameError``, a game stepped while it
    is not running.)"""


# ---------------------------------------------------------------------------------------------
# Environment factories


def positive_int(label: str, value: Any) -> int:
    """``value`` as an int if it is a positive integer (not a bool), else a ValueError naming
    ``label``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{label} must be a positive int, got {value!r}")
    return int(value)


def default_env_factory(
    env_id: str, opponent: Policy, n_envs: int, seat: Seat = 0, seed: int | None = None
) -> VecEnv:
    """``thrust_envs.vs_opponent`` (imported on first use)."""
    import thrust_envs

    vs_opponent = getattr(thrust_envs, "vs_opponent", None)
    if vs_opponent is None:
        raise GameUnavailable(
            "this version of thrust_envs has no two-player games (thrust_envs.vs_opponent)"
        )
    try:
        return vs_opponent(env_id, opponent, n_envs, seat=seat, seed=seed)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] not in _ALGOS_MODULES:
            raise
        raise GameUnavailable(
            f"{env_id}: a two-player match steps thrust_envs.vs_opponent, an SB3 VecEnv, which "
            f"needs the algos extra (pip install 'thrust-rl[algos]'): {error}"
        ) from error


# What the algos extra brings that a vs-opponent VecEnv needs (SB3, and torch under it).
_ALGOS_MODULES = ("stable_baselines3", "torch")


def _thrust_game(env_id: str) -> Any:
    """thrust_envs' definition of the multi-agent game ``env_id``, or a :class:`GameUnavailable`
    telling an unknown ID from a single-agent environment."""
    import gymnasium as gym

    from thrust_envs.registration import game_definitions

    games = game_definitions()
    definition = games.get(env_id)
    if definition is not None:
        return definition
    try:
        gym.spec(env_id)
    except gym.error.Error:
        raise GameUnavailable(
            f"unknown environment {env_id!r}; thrust_envs' multi-agent games: {sorted(games)}"
        ) from None
    raise GameUnavailable(f"{env_id!r} is not a two-player game; a match needs two sides")


def _default_check_game(env_id: str) -> None:
    """``env_id`` is a thrust_envs multi-agent game with exactly two seats."""
    definition = _thrust_game(env_id)
    seats = definition.num_agents(definition.params_type())
    if seats != 2:
        raise GameUnavailable(
            f"{env_id!r} has {seats} seats; a match needs a game with exactly two sides"
        )


def _default_game_bots(env_id: str) -> Mapping[str, Callable[..., Policy]]:
    """The scripted players a thrust_envs game ships (``GameDefinition.bots``)."""
    return dict(getattr(_thrust_game(env_id), "bots", {}))


default_env_factory.check_game = _default_check_game  # type: ignore[attr-defined]
default_env_factory.game_bots = _default_game_bots  # type: ignore[attr-defined]


def check_game(env_id: str, env_factory: EnvFactory | None = None) -> None:
    """Raise :class:`GameUnavailable` unless ``env_id`` is a two-player game of ``env_factory``.

    Calls the factory's ``check_game(env_id)`` if it has one; the default factory's checks
    that thrust_envs has a multi-agent game of that ID with two seats (and tells an unknown ID
    from a single-agent environment).
    """
    if not isinstance(env_id, str) or not env_id:
        raise GameUnavailable(f"env_id must be a non-empty string, got {env_id!r}")
    factory = default_env_factory if env_factory is None else env_factory
    check = getattr(factory, "check_game", None)
    if check is not None:
        check(env_id)


def load_env_factory(path: str | None) -> EnvFactory:
    """The env factory named ``"module:function"`` (``None``: the default, thrust_envs').

    :raises GameUnavailable: if the module or function cannot be found
    """
    if path is None:
        return default_env_factory
    factory = import_object(path, "env factory", "module:function", GameUnavailable)
    if not callable(factory):
        raise GameUnavailable(f"{path!r} is not a callable env factory")
    return factory


@dataclass(frozen=True)
class GameInfo:
    """What players need to know about a game: its ID and spaces (from one probe env), and the
    scripted players the game itself ships (name -> factory; see
    :func:`thrust_population.players.make_bot`)."""

    env_id: str
    observation_space: Any
    action_space: Any
    bots: Mapping[str, Callable[..., Policy]] = field(default_factory=dict)
    #: the game's parameters by name, for bots built to its size (a game's bot factory takes
    #: those it names, e.g. Bucket Brigade's ``num_houses``); empty when unknown
    params: Mapping[str, Any] = field(default_factory=dict)


def probe_game(env_id: str, env_factory: EnvFactory | None = None) -> GameInfo:
    """Check ``env_id``, build one env to read its spaces (nothing is stepped), and collect the
    game's own bots (the factory's ``game_bots(env_id)``, if it has one).

    :raises GameUnavailable: unknown environment or not a two-player game
    """
    factory = default_env_factory if env_factory is None else env_factory
    check_game(env_id, factory)

    def idle(obs: np.ndarray) -> np.ndarray:  # never called: the probe is not stepped
        raise RuntimeError("the probe env must not be stepped")

    try:
        venv = factory(env_id, idle, 1, 0, 0)
    except GameUnavailable:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise GameUnavailable(f"cannot build {env_id!r} as a two-player game: {exc}") from exc
    try:
        spaces = (venv.observation_space, venv.action_space)
    finally:
        venv.close()
    game_bots = getattr(factory, "game_bots", None)
    bots = dict(game_bots(env_id)) if game_bots is not None else {}
    return GameInfo(env_id, *spaces, bots=bots)


# ---------------------------------------------------------------------------------------------
# Matches


@dataclass(frozen=True)
class MatchResult:
    """The record of one match between A and B (A's point of view).

    Attributes:
        env_id: the game
        seat: A's seat: 0, 1 or "alternate"
        seed: the VecEnv's seed
        n_envs: games played at once
        outcomes: one character per game in the order they finished (``W``/``D``/``L`` with A in
            seat 0, ``w``/``d``/``l`` in seat 1)
        score: the sum of A's returns over the games
        steps: VecEnv steps taken
    """

    env_id: str
    seat: Seat
    seed: int
    n_envs: int
    outcomes: str
    score: float
    steps: int

    @property
    def games(self) -> int:
        return len(self.outcomes)

    @property
    def wins(self) -> int:
        return self.outcomes.count("W") + self.outcomes.count("w")

    @property
    def draws(self) -> int:
        return self.outcomes.count("D") + self.outcomes.count("d")

    @property
    def losses(self) -> int:
        return self.outcomes.count("L") + self.outcomes.count("l")

    @property
    def points(self) -> float:
        """A's score with draws counting half: ``wins + draws / 2``."""
        return self.wins + 0.5 * self.draws

    def scores(self) -> list[float]:
        """A's score in each game, in order (1, 0.5 or 0)."""
        return [OUTCOME_SCORES[c] for c in self.outcomes]


def _check_seat(seat: Seat) -> Seat:
    if isinstance(seat, str) and seat == "alternate":
        return seat
    if isinstance(seat, (int, np.integer)) and not isinstance(seat, bool) and seat in (0, 1):
        return int(seat)
    raise ValueError(f"seat must be 0, 1 or 'alternate', got {seat!r}")


#: seeds are stored in SQLite INTEGER columns (signed 64-bit)
SEED_LIMIT = 2**63


def check_seed(seed: Any) -> int:
    """``seed`` as an int, refusing anything but an integer in ``[0, 2**63)`` (no bools, no
    floats: ``1.5`` would silently become ``1``).

    :raises ValueError: naming what was expected
    """
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < SEED_LIMIT
    ):
        raise ValueError(f"seed must be a non-negative int below 2**63, got {seed!r}")
    return int(seed)


def play_match(
    env_id: str,
    player: Policy,
    opponent: Policy,
    games: int,
    *,
    n_envs: int = 32,
    seat: Seat = "alternate",
    seed: int = 0,
    env_factory: EnvFactory | None = None,
) -> MatchResult:
    """Play ``games`` games of ``env_id`` between ``player`` (A) and ``opponent`` (B).

    The games run ``min(n_envs, games)`` at a time in one VecEnv; row ``i`` plays
    ``(games + i) // n_envs`` of them. A game's seat is the ``info["seat"]`` its env reports
    (thrust_envs' ``"alternate"`` starts row ``i`` in seat ``i % 2`` and swaps seats after each
    game), else the row's starting seat; with an even ``n_envs`` dividing ``games``, each seat
    plays half.

    :param env_id: a two-player game of ``env_factory``
    :param player: A's policy, observation batch ``[k, obs_dim]`` -> actions ``[k]``
    :param opponent: B's policy (the same signature)
    :param games: number of games (>= 1)
    :param n_envs: games played at once
    :param seat: A's seat: 0, 1 or "alternate"
    :param seed: the VecEnv's seed (recorded; the same seed replays the same match)
    :param env_factory: builds the VecEnv (default ``thrust_envs.vs_opponent``)
    :return: the match's record
    :raises ValueError: bad arguments, or an env that does not report ``info["episode"]``
    """
    positive_int("games", games)
    positive_int("n_envs", n_envs)
    seat = _check_seat(seat)
    seed = check_seed(seed)
    factory = default_env_factory if env_factory is None else env_factory
    rows = int(min(n_envs, games))
    targets = np.array([(games + i) // rows for i in range(rows)], dtype=np.int64)
    row_seats = np.array([i % 2 if seat == "alternate" else seat for i in range(rows)])
    done_games = np.zeros(rows, dtype=np.int64)
    outcomes: list[str] = []
    score = 0.0
    steps = 0
    venv = factory(env_id, opponent, rows, seat, seed)
    try:
        if venv.num_envs != rows:
            raise ValueError(f"env factory returned {venv.num_envs} envs, asked for {rows}")
        venv.seed(seed)
        obs = venv.reset()
        while np.any(done_games < targets):
            actions = np.asarray(player(obs))
            obs, _, dones, infos = venv.step(actions)
            steps += 1
            for i in np.flatnonzero(dones):
                episode = infos[i].get("episode")
                if episode is None:
                    raise ValueError(
                        f"{env_id}: a finished game's info has no 'episode' entry; a match env "
                        "must report info['episode']['r'] (the caller's return)"
                    )
                if done_games[i] >= targets[i]:
                    continue
                done_games[i] += 1
                r = float(episode["r"])
                score += r
                letter = "W" if r > 0 else "L" if r < 0 else "D"
                game_seat = infos[i].get("seat", row_seats[i])
                outcomes.append(letter if game_seat == 0 else letter.lower())
    finally:
        venv.close()
    return MatchResult(env_id, seat, seed, rows, "".join(outcomes), score, steps)


def replay_match(
    record: MatchResult | Any,
    player: Policy,
    opponent: Policy,
    env_factory: EnvFactory | None = None,
) -> MatchResult:
    """Play a recorded match again (same game, seat, seed, number of games and of envs).

    With the same deterministic players (or players seeded as they were) the result equals
    ``record``.

    :param record: a :class:`MatchResult`, or any object with ``env_id``, ``seat``, ``seed``,
        ``n_envs`` and ``games`` (such as the store's match rows)
    """
    return play_match(
        record.env_id,
        player,
        opponent,
        int(record.games),
        n_envs=int(record.n_envs),
        seat=record.seat,
        seed=int(record.seed),
        env_factory=env_factory,
    )


def outcome_counts(outcomes: Sequence[str] | str) -> tuple[int, int, int]:
    """``(wins, draws, losses)`` of an outcome string."""
    text = "".join(outcomes)
    unknown = set(text) - set(OUTCOME_SCORES)
    if unknown:
        raise ValueError(f"unknown outcome characters {sorted(unknown)}")
    wins = text.count("W") + text.count("w")
    draws = text.count("D") + text.count("d")
    return wins, draws, len(text) - wins - draws
