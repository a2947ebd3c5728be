"""thrust_population: self-play populations, ratings, matchmaking and league training.

What this package is for (filled in by its own issues):

- ratings: online Elo and a batch Bradley–Terry refit with confidence intervals, win-rate
  matrices, and Nash averaging / alpha-rank for non-transitive populations;
- matchmaking: random, round-robin, closest rating, self-play with a window of snapshots,
  and prioritized fictitious self-play;
- populations of SB3 models, ``thrust_export`` numpy policies and scripted bots, with frozen
  snapshots and lineage, playing many games at once through ``thrust_envs``' batched games;
- an embedded SQLite store (standard library, WAL) that survives ``kill -9``;
- league training with a local backend and a Ray backend for scale-out;
- the ``thrust-population`` command-line tool.

Requires the ``population`` extra (and ``ray`` for the Ray backend). Nothing is exported yet:
this package holds no public API until its issues land.
"""

__all__: list[str] = []
