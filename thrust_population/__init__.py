"""thrust_population: rate players of two-player games, choose their matches, remember everything.

::

    from thrust_population import Population

    pop = Population.create("runs/x", "Thrust/Pong-v0")
    for spec in ("random", "tracker:0.5", "tracker:1.0"):
        pop.add_bot(spec)
    pop.run_tournament(3000)                 # round-robin; kill -9 at any time, then resume
    print(pop.ladder().format())             # Elo, Bradley–Terry with intervals, Nash average

The same from the shell: ``thrust-population tournament --env Thrust/Pong-v0 --players
random,tracker:0.5,tracker:1.0 --games 3000 --out runs/x``, then ``ladder``, ``play``, ``plot``,
``show`` and ``verify`` (also ``python -m thrust_population``).

- Ratings (:mod:`~thrust_population.ratings`): online :class:`Elo` (K, initial rating, an
  anchor pinned to a fixed rating); :func:`bradley_terry`, the maximum-likelihood refit from the
  whole record (draws count half, a smoothing prior, confidence intervals); win-rate matrices.
  For non-transitive populations (:mod:`~thrust_population.gametheory`): :func:`nash_averaging`
  (maximum-entropy Nash) and :func:`alpha_rank`.
- Matchmaking (:mod:`~thrust_population.matchmaking`): random, round-robin, closest rating
  ("fitness"), self-play against the latest member with a window of snapshots, and PFSP with
  the squared, linear and variance weightings.
- Members: scripted bots by spec (``random``, ``tracker:0.5``, registered with
  :func:`register_bot`), exported ``thrust_export`` numpy policies and SB3 models frozen as files
  beside the database, in-process callables; snapshots with lineage (parent, generation).
- Matches (:mod:`~thrust_population.matches`): many games at once through a batched
  vs-opponent VecEnv (``thrust_envs.vs_opponent`` or any factory with its contract); seeds are
  recorded, so any match can be replayed.
- Store (:mod:`~thrust_population.store`): SQLite through the standard library (WAL, one
  transaction per batch of results): a kill loses at most the batch in flight, and the stored
  ratings always equal a replay of the match log.

Importing this package imports numpy only; matplotlib (``plot``), tqdm (progress bars), torch and
SB3 (``.zip`` members) are imported when used.

League training (:mod:`~thrust_population.league`): :class:`League` trains SB3 on-policy
learners (default ``thrust_algos.PPO``) generation by generation against opponents the
matchmaker draws from earlier snapshots and the scripted bots (``thrust_envs.vs_opponent``,
swapped at episode boundaries), freezes each learner as a snapshot with lineage, plays batched
evaluation matches and updates the ratings; exploiters train against the main agents only.
Deterministic for a seed, resumable after a kill (``thrust-population train``, ``resume``,
``export``). Local backend: a process pool of learners, one per learner up to the CPU count, or
in process (``workers``).
"""

from thrust_population.gametheory import (
    AlphaRank,
    NashAverage,
    alpha_rank,
    nash_averaging,
    payoff_matrix,
)
from thrust_population.league import (
    GenerationReport,
    League,
    LeagueConfig,
    LearnerRow,
    export_member,
    snapshot_name,
)
from thrust_population.matches import (
    EnvFactory,
    GameInfo,
    GameUnavailable,
    MatchResult,
    Policy,
    check_game,
    play_match,
    replay_match,
)
from thrust_population.matchmaking import (
    PFSP,
    ClosestRating,
    Matchmaker,
    PoolView,
    RandomMatchmaker,
    RoundRobin,
    SelfPlay,
    make_matchmaker,
)
from thrust_population.players import (
    PlayerSpec,
    SpecError,
    parse_spec,
    register_bot,
    unregister_bot,
)
from thrust_population.population import Ladder, LadderRow, Population, TournamentReport
from thrust_population.ratings import (
    BradleyTerry,
    Elo,
    EloConfig,
    bradley_terry,
    pair_counts,
    spearman,
    win_rate_matrix,
)
from thrust_population.store import (
    MatchRow,
    Member,
    Store,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreNotFound,
    UnknownMember,
)

__all__ = [
    "PFSP",
    "AlphaRank",
    "BradleyTerry",
    "ClosestRating",
    "Elo",
    "EloConfig",
    "EnvFactory",
    "GameInfo",
    "GameUnavailable",
    "GenerationReport",
    "Ladder",
    "LadderRow",
    "League",
    "LeagueConfig",
    "LearnerRow",
    "MatchResult",
    "MatchRow",
    "Matchmaker",
    "Member",
    "NashAverage",
    "PlayerSpec",
    "Policy",
    "PoolView",
    "Population",
    "RandomMatchmaker",
    "RoundRobin",
    "SelfPlay",
    "SpecError",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
    "StoreNotFound",
    "TournamentReport",
    "UnknownMember",
    "alpha_rank",
    "bradley_terry",
    "check_game",
    "export_member",
    "make_matchmaker",
    "nash_averaging",
    "pair_counts",
    "parse_spec",
    "payoff_matrix",
    "play_match",
    "register_bot",
    "replay_match",
    "snapshot_name",
    "spearman",
    "unregister_bot",
    "win_rate_matrix",
]
