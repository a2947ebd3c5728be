"""A run's ladder: every member's ratings (stored Elo, Bradley–Terry refit with intervals, Nash
average), record and win-rate matrix, computed from the store; a member's report; the text
tables they print as."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thrust_population.gametheory import nash_averaging, payoff_matrix
from thrust_population.ratings import LN10, bradley_terry, win_rate_matrix
from thrust_population.store import Store

__all__ = ["Ladder", "LadderRow", "compute_ladder", "format_table", "member_report"]


@dataclass(frozen=True)
class LadderRow:
    """One member's line of the ladder (ratings on the Elo scale)."""

    name: str
    kind: str
    generation: int
    elo: float
    bt: float
    bt_lower: float
    bt_upper: float
    nash: float
    games: int
    score: float  # fraction of points won (draws count half); NaN without games


@dataclass(frozen=True)
class Ladder:
    """Ratings of every member.

    Attributes:
        rows: one per member, strongest Bradley–Terry rating first
        names: member names in creation order (the order of the matrices)
        win_rates: float64 ``[n, n]``: ``win_rates[i, j]``, i's score against j (NaN if unmet)
        games: float64 ``[n, n]``: games between i and j
        level: confidence level of the Bradley–Terry intervals
        nash_mixture: float64 ``[n]``: the maximum-entropy Nash equilibrium of the record
    """

    rows: list[LadderRow]
    names: list[str]
    win_rates: np.ndarray
    games: np.ndarray
    level: float
    nash_mixture: np.ndarray

    def format(self, matrix: bool | None = None) -> str:
        """The ladder as a text table (and the win-rate matrix when ``matrix``, by default when
        there are at most 12 members)."""
        pct = f"{self.level * 100:g}%"
        header = ("#", "member", "elo", "bt", f"bt {pct} interval", "nash", "games", "score")
        lines = []
        for rank, row in enumerate(self.rows, 1):
            score = "-" if math.isnan(row.score) else f"{100 * row.score:.1f}%"
            lines.append(
                (
                    str(rank),
                    row.name,
                    f"{row.elo:.0f}",
                    f"{row.bt:.0f}",
                    f"[{row.bt_lower:.0f}, {row.bt_upper:.0f}]",
                    "-" if not row.games else f"{row.nash:+.0f}",
                    str(row.games),
                    score,
                )
            )
        text = format_table(header, lines, right=(0, 2, 3, 5, 6, 7))
        text += (
            "\nelo: online Elo; bt: Bradley–Terry refit of the whole record; nash: payoff against "
            "the\npopulation's maximum-entropy Nash mixture in Elo points (0: in its support, "
            "-: no games);\nscore: points per game, draws counting half"
        )
        if matrix is None:
            matrix = len(self.names) <= 12
        if matrix and self.names:
            order = [self.names.index(row.name) for row in self.rows]
            header2 = ("win rate (row vs column)", *(str(k + 1) for k in range(len(order))))
            lines2 = []
            for k, i in enumerate(order):
                cells = [
                    "-" if math.isnan(self.win_rates[i, j]) else f"{self.win_rates[i, j]:.2f}"
                    for j in order
                ]
                lines2.append((f"{k + 1} {self.names[i]}", *cells))
            right = tuple(range(1, len(order) + 1))
            text += "\n\n" + format_table(header2, lines2, right=right)
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the rows, then the matrices in ``names`` order (NaN as null)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {
            "level": self.level,
            "rows": [
                {key: (clean(v) if isinstance(v, float) else v) for key, v in vars(r).items()}
                for r in self.rows
            ],
            "names": self.names,
            "win_rates": [[clean(x) for x in row] for row in self.win_rates],
            "games": self.games.astype(int).tolist(),
            "nash_mixture": self.nash_mixture.tolist(),
        }


def format_table(
    header: Sequence[str], lines: list[Sequence[str]], right: Sequence[int] = ()
) -> str:
    """``lines`` under ``header`` in columns two spaces apart, left-aligned except the columns
    whose indices are in ``right``, with a rule of dashes under the header."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if k in right else str(c).ljust(w)
            for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)])


def compute_ladder(store: Store, *, level: float = 0.95, prior: float = 1.0) -> Ladder:
    """The :class:`Ladder` of a run (reads only)."""
    names, score, games = store.counts()
    members = {m.name: m for m in store.members()}
    elo = store.ratings()
    config = store.elo_config
    n = len(names)
    anchor = names.index(config.anchor) if config.anchor in names else None
    fit = bradley_terry(
        score,
        games,
        prior=prior,
        level=level,
        scale=config.scale,
        center=config.initial,
        anchor=anchor,
        anchor_rating=config.pinned_rating,
    )
    if n:
        nash = nash_averaging(payoff_matrix(score, games, prior=prior))
        nash_ratings, mixture = nash.ratings * config.scale / LN10, nash.mixture
    else:
        nash_ratings, mixture = np.zeros(0), np.zeros(0)
    totals = games.sum(axis=1)
    points = score.sum(axis=1)
    rows = [
        LadderRow(
            name=name,
            kind=members[name].kind,
            generation=members[name].generation,
            elo=elo[name],
            bt=float(fit.ratings[i]),
            bt_lower=float(fit.lower[i]),
            bt_upper=float(fit.upper[i]),
            nash=float(nash_ratings[i]),
            games=int(totals[i]),
            score=float(points[i] / totals[i]) if totals[i] > 0 else float("nan"),
        )
        for i, name in enumerate(names)
    ]
    rows.sort(key=lambda r: (-r.bt, r.name))
    return Ladder(rows, names, win_rate_matrix(score, games), games, level, mixture)


def member_report(store: Store, name: str, last: int = 10) -> str:
    """A text description of one member: identity, lineage, ratings, record, last matches."""
    member = store.member(name)
    ladder = compute_ladder(store)
    row = next(r for r in ladder.rows if r.name == name)
    rank = ladder.rows.index(row) + 1
    lines = [
        f"member      {member.name}",
        f"kind        {member.kind}",
        f"spec        {member.spec}",
    ]
    if member.artifact is not None:
        lines.append(f"artifact    {store.directory / member.artifact}")
        if "sha256" in member.info:
            lines.append(f"sha256      {member.info['sha256']}")
    lines += [
        f"parent      {member.parent or '-'}",
        f"generation  {member.generation}",
        f"created     {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(member.created))}",
        f"rank        {rank} of {len(ladder.rows)}",
        f"elo         {row.elo:.1f}",
        f"bt          {row.bt:.1f}  {ladder.level * 100:g}% interval "
        f"[{row.bt_lower:.1f}, {row.bt_upper:.1f}]",
        f"nash        {'-' if not row.games else f'{row.nash:+.1f}'}",
        f"games       {row.games}"
        + ("" if math.isnan(row.score) else f"  (score {100 * row.score:.1f}%)"),
    ]
    extra = {k: v for k, v in member.info.items() if k not in ("sha256",)}
    if extra:
        lines.append(f"info        {json.dumps(extra, sort_keys=True)}")
    i = ladder.names.index(name)
    record = []
    for j, other in enumerate(ladder.names):
        if j != i and ladder.games[i, j] > 0:
            record.append(
                (other, str(int(ladder.games[i, j])), f"{100 * ladder.win_rates[i, j]:.1f}%")
            )
    if record:
        lines += ["", format_table(("opponent", "games", "score"), record, right=(1, 2))]
    matches = store.matches(name, last=last)
    if matches:
        table = []
        for m in matches:
            opponent, as_a = (m.player_b, True) if m.player_a == name else (m.player_a, False)
            wins, losses = (m.wins, m.losses) if as_a else (m.losses, m.wins)
            table.append(
                (str(m.id), opponent, f"{wins}-{m.draws}-{losses}", str(m.seed), str(m.n_envs))
            )
        lines += [
            "",
            f"last {len(matches)} matches (wins-draws-losses):",
            format_table(("match", "opponent", "w-d-l", "seed", "n_envs"), table, right=(0, 3, 4)),
        ]
    return "\n".join(lines)
