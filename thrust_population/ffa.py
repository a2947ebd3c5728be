"""N-player (free-for-all) games: seating, batched play, placements and tournaments.

- **Seats.** A game's number of seats is its parameter that sets the number of agents (Snake's
  ``num_snakes``); :func:`seat_range` reads it from the game's definition. A game without one
  (Pong) has exactly its default number of seats.
- **Seating** (:func:`seating`): the players, in creation order, are shuffled once per *block*
  of ``P`` games (``P`` players; a generator seeded by the run seed and the block index), and
  game ``r`` of a block seats players ``perm[(r + s) % P]`` in seats ``s = 0 .. S-1``: over a
  block every player sits exactly once in each seat position, so in a run of whole blocks all
  players appear equally often in every seat.
- **Play** (:func:`play_games`): ``n`` games at once in one ``thrust_envs`` ``BatchGame``;
  every step each player acts once on the stacked observations of all its live seats; a
  finished game's row is reset and ignored.
- **Placement** (:func:`placement`): the order of elimination. An agent eliminated later
  places higher than one eliminated earlier; agents eliminated in the same step tie; agents
  still alive when the game ends (the last snake standing, or every survivor at the step
  limit) place above all eliminated ones, ranked among themselves by return (Snake: food
  eaten), equal returns tying. Ties share the best place of their group (``1, 2, 2, 4``).
- **Seeds**: game ``i`` of a run is seeded ``derive_seed(run seed, FFA_GAME_KEY, i)``, and the
  players of a batch starting at game ``i`` get ``derive_seed(run seed, FFA_PLAYER_KEY, i,
  member index)``: a batch is determined by its first game's index, so a tournament killed and
  resumed records what an uninterrupted one would (one transaction per batch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from thrust_population.placements import FfaGame, PlacementLog, places_from_keys
from thrust_population.seeding import derive_seed

__all__ = [
    "FFA_GAME_KEY",
    "FFA_PLAYER_KEY",
    "default_seats",
    "game_params",
    "placement",
    "play_games",
    "run_ffa_tournament",
    "seat_range",
    "seating",
]

FFA_GAME_KEY = 0x46464147  # "FFAG": keys derive_seed's game seeds apart from match seeds
FFA_PLAYER_KEY = 0x46464150  # "FFAP"
FFA_SEATING_KEY = 0x46464153  # "FFAS"
#: the most seats a game's seat parameter is probed for
MAX_SEATS = 1024

Policy = Callable[[np.ndarray], np.ndarray]


def game_definition(env_id: str) -> Any:
    """thrust_envs' :class:`~thrust_envs.core.games.GameDefinition` of ``env_id``.

    :raises GameUnavailable: unknown ID or a single-agent environment
    """
    from thrust_population.matches import _thrust_game

    return _thrust_game(env_id)


def default_seats(env_id: str) -> int:
    """A thrust_envs game's number of agents with its default parameters.

    :raises GameUnavailable: unknown ID or a single-agent environment
    """
    definition = game_definition(env_id)
    return int(definition.num_agents(definition.params_type()))


def _seat_field(definition: Any) -> str | None:
    """The integer parameter that sets the number of agents (None if the number is fixed)."""
    default = definition.params_type()
    agents = definition.num_agents(default)
    for name in definition.params_type._fields:
        value = getattr(default, name)
        if isinstance(value, int) and not isinstance(value, bool):
            changed = default._replace(**{name: value + 1})
            if definition.num_agents(changed) == agents + 1:
                return name
    return None


def seat_range(definition: Any) -> tuple[int, int]:
    """``(low, high)``: the numbers of seats (inclusive) a game can be played with, from its
    seat parameter's valid values (its ``check_params``); a fixed-size game's own count."""
    default = definition.params_type()
    field = _seat_field(definition)
    if field is None:
        n = definition.num_agents(default)
        return n, n

    def valid(n: int) -> bool:
        try:
            definition.check_params(default._replace(**{field: n}))
        except ValueError:
            return False
        return True

    low = next(n for n in range(1, MAX_SEATS + 1) if valid(n))
    high = low
    while high < MAX_SEATS and valid(high + 1):
        high += 1
    return low, high


def game_params(definition: Any, seats: int, env_kwargs: dict[str, Any] | None = None) -> Any:
    """The game's parameters with ``seats`` agents (and ``env_kwargs``), checked by the game.

    :raises ValueError: ``seats`` outside :func:`seat_range`, invalid parameters (unknown names,
        wrong types, values the game refuses), or ``env_kwargs`` naming another number of agents
    """
    from thrust_envs.core.definition import make_params

    low, high = seat_range(definition)
    low = max(low, 2)
    if not low <= seats <= high:
        span = f"exactly {low}" if low == high else f"{low} to {high}"
        raise ValueError(f"{definition.env_id} is played with {span} seats, got --seats {seats}")
    given = dict(env_kwargs or {})
    kwargs = dict(given)
    field = _seat_field(definition)
    if field is not None:
        kwargs[field] = seats
    try:
        params = make_params(definition, definition.env_id, kwargs)
    except TypeError as exc:  # an unknown name or a wrong type: bad input like a bad value
        raise ValueError(str(exc)) from None
    contradicting = {k: v for k, v in given.items() if getattr(params, k, v) != v}
    if contradicting:
        name = next(iter(contradicting))
        raise ValueError(
            f"env_kwargs {name}={contradicting[name]} contradicts seats {seats} (give the seats "
            "alone)"
        )
    return params


def seating(run_seed: int, players: int, seats: int, game: int) -> list[int]:
    """The player indices in seats ``0 .. seats-1`` of game number ``game`` (see the module
    docstring: a shuffled rotation per block of ``players`` games).

    :raises ValueError: ``players``, ``seats`` or ``game`` not an int, fewer than 2 seats or
        more seats than players, a negative game number
    """
    for name, value in (("players", players), ("seats", seats), ("game", game)):
        # game 2.5 would be seated as game 2
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"seating: {name} must be an int, got {value!r}")
    if game < 0:
        raise ValueError(f"seating: game must be a game number >= 0, got {game}")
    if not 2 <= seats <= players:
        raise ValueError(f"{seats} seats need at least {seats} players, got {players}")
    block, rotation = divmod(int(game), players)
    order = np.random.default_rng(derive_seed(run_seed, FFA_SEATING_KEY, block)).permutation(
        players
    )
    return [int(order[(rotation + s) % players]) for s in range(seats)]


def placement(eliminated: np.ndarray, survived: np.ndarray, returns: np.ndarray) -> list[int]:
    """Places (1 = first) of one game's agents (see the module docstring).

    :param eliminated: int ``[A]``, the step at which each agent was eliminated (ignored for
        survivors)
    :param survived: bool ``[A]``, alive when the game ended
    :param returns: float ``[A]``, each agent's return (ranks the survivors)
    :raises ValueError: the three not of one length ``A``
    """
    if not len(eliminated) == len(survived) == len(returns):
        raise ValueError(
            f"placement needs eliminated, survived and returns of one length (one per agent), "
            f"got {len(eliminated)}, {len(survived)} and {len(returns)}"
        )
    keys = [
        (1, 0, float(returns[a])) if survived[a] else (0, int(eliminated[a]), 0.0)
        for a in range(len(survived))
    ]
    return places_from_keys(keys)


def play_games(
    definition: Any,
    params: Any,
    seats: np.ndarray,
    policies: Sequence[Policy],
    seeds: Sequence[int],
) -> list[tuple[list[int], list[float], int]]:
    """Play ``G`` games at once and return each game's ``(places, returns, steps)``.

    :param seats: int ``[G, A]``, the policy index in each game's seat
    :param policies: the players (a callable from observations ``[n, *obs_shape]`` to actions
        ``[n]`` or ``[n, K]``)
    :param seeds: ``G`` game seeds
    """
    from thrust_envs.core.games import BatchGame

    seats = np.asarray(seats, dtype=np.int64)
    n_games, n_agents = seats.shape
    game = BatchGame(definition, n_games, params, autoreset=False, num_threads=1)
    if game.num_agents != n_agents:
        raise ValueError(f"{definition.env_id}: {game.num_agents} agents, got {n_agents} seats")
    game.seed([int(s) for s in seeds])
    game.reset()
    eliminated = np.zeros((n_games, n_agents), dtype=np.int64)
    done = np.zeros(n_games, dtype=np.bool_)
    results: list[Any] = [None] * n_games
    while not done.all():
        live = game.alive & ~done[:, None]
        game.actions[...] = 0  # finished games' rows: any valid action (their steps are ignored)
        for index, policy in enumerate(policies):
            rows = np.nonzero(live & (seats == index))
            if rows[0].size:
                actions = np.asarray(policy(game.obs[rows]))
                game.write_actions(rows, actions.reshape(game.action_shape(rows[0].size)))
        game.step()
        died = game.was_alive & ~game.alive & ~done[:, None]
        eliminated[died] = game.length[np.nonzero(died)[0]]
        finished = game.game_over & ~done
        for g in np.flatnonzero(finished):
            places = placement(eliminated[g], game.alive[g], game.agent_return[g])
            results[g] = (places, game.agent_return[g].tolist(), int(game.length[g]))
        if finished.any():
            done |= finished
            game.reset(finished)  # a fresh game keeps the row valid; it is never recorded
    return results


def run_ffa_tournament(
    log: PlacementLog,
    players: Sequence[str],
    policy: Callable[[str, int], Policy],
    games: int,
    *,
    seats: int,
    params: Any,
    definition: Any,
    n_envs: int = 32,
    progress: bool = False,
) -> int:
    """Play until the run holds ``games`` games, ``n_envs`` at once, one transaction each.

    :param players: member names in creation order (the seating's player indices)
    :param policy: ``(member name, seed) -> policy``
    :return: the games played now
    """
    store = log.store
    start, played = log.n_games(), 0
    began = time.perf_counter()
    while start < games:
        count = min(n_envs, games - start)
        numbers = range(start, start + count)
        table = np.array([seating(store.seed, len(players), seats, i) for i in numbers])
        seeds = [derive_seed(store.seed, FFA_GAME_KEY, i) for i in numbers]
        policies = [
            policy(name, derive_seed(store.seed, FFA_PLAYER_KEY, start, index))
            for index, name in enumerate(players)
        ]
        outcomes = play_games(definition, params, table, policies, seeds)
        log.record_games(
            [
                FfaGame(
                    members=tuple(players[p] for p in row),
                    places=tuple(places),
                    scores=tuple(returns),
                    seed=seed,
                    steps=steps,
                )
                for row, seed, (places, returns, steps) in zip(table, seeds, outcomes, strict=True)
            ]
        )
        start += count
        played += count
        if progress:
            rate = played / max(time.perf_counter() - began, 1e-9)
            print(f"{start}/{games} games ({rate:.1f} games/s)", flush=True)
    return played
