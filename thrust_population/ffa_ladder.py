"""The ladder of an N-player run (openskill's Plackett–Luce ratings: ``mu``, ``sigma`` and the
conservative ordinal ``mu - 3 sigma``, with mean placement and win share), a member's report and
the run's plot (``mu`` over the games with its ``± sigma`` band, and each member's placement
distribution)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thrust_population.ladder import format_table
from thrust_population.placements import PlacementLog
from thrust_population.store import Store

__all__ = ["FfaLadder", "FfaLadderRow", "ffa_ladder", "ffa_member_report", "plot_ffa_run"]

#: the ordinal subtracts this many sigmas from mu (openskill's default)
ORDINAL_Z = 3.0


@dataclass(frozen=True)
class FfaLadderRow:
    """One member's line: its rating and record in N-player games."""

    name: str
    kind: str
    generation: int
    mu: float
    sigma: float
    ordinal: float  # mu - 3 sigma
    games: int
    mean_place: float  # NaN without games
    win_share: float  # first places per game (a k-way tie for first counts 1/k); NaN without


@dataclass(frozen=True)
class FfaLadder:
    """Every rated member of an N-player run, highest ordinal first."""

    rows: list[FfaLadderRow]
    seats: int

    @property
    def names(self) -> list[str]:
        return [row.name for row in self.rows]

    def format(self, matrix: bool | None = None) -> str:
        """The ladder as a text table (``matrix`` is accepted for the two-player signature; an
        N-player run has no pairwise matrix)."""
        del matrix
        lines = [
            [
                str(rank),
                row.name,
                row.kind,
                f"{row.ordinal:.2f}",
                f"{row.mu:.2f}",
                f"{row.sigma:.2f}",
                str(row.games),
                "-" if math.isnan(row.mean_place) else f"{row.mean_place:.2f}",
                "-" if math.isnan(row.win_share) else f"{100 * row.win_share:.1f}%",
            ]
            for rank, row in enumerate(self.rows, 1)
        ]
        header = ["#", "member", "kind", "ordinal", "mu", "sigma", "games", "place", "wins"]
        note = (
            f"Plackett–Luce ratings (openskill) from {self.seats}-seat placements; ordinal = "
            f"mu - {ORDINAL_Z:g} sigma; place: mean placement (1 = first); wins: share of "
            "first places"
        )
        return note + "\n" + format_table(header, lines, right=(0, 3, 4, 5, 6, 7, 8))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as null)."""

        def clean(value: Any) -> Any:
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "players": "ffa",
            "seats": self.seats,
            "rows": [{k: clean(v) for k, v in vars(row).items()} for row in self.rows],
        }


def ffa_ladder(store: Store) -> FfaLadder:
    """The ladder of the N-player run ``store``."""
    log = PlacementLog(store)
    summary = log.summary()
    members = {m.name: m for m in store.members()}
    rows = [
        FfaLadderRow(
            name=name,
            kind=members[name].kind,
            generation=members[name].generation,
            mu=mu,
            sigma=sigma,
            ordinal=mu - ORDINAL_Z * sigma,
            **summary[name],
        )
        for name, (mu, sigma) in log.ratings().items()
    ]
    rows.sort(key=lambda row: -row.ordinal)
    return FfaLadder(rows, log.seats)


def ffa_member_report(store: Store, name: str, last: int = 10) -> str:
    """A member of an N-player run: kind, rating, placement counts and its last games."""
    member = store.member(name)
    log = PlacementLog(store)
    seats = log.seats
    row = next((r for r in ffa_ladder(store).rows if r.name == name), None)
    lines = [f"{name}: {member.kind} {member.spec} (generation {member.generation})"]
    if row is None:
        return "\n".join([*lines, "not rated"])
    lines.append(
        f"rating: mu {row.mu:.2f}, sigma {row.sigma:.2f}, ordinal {row.ordinal:.2f}; "
        f"{row.games} games"
    )
    games = log.games(name)
    if games:
        places = [g.places[g.members.index(name)] for g in games]
        counts = np.bincount(places, minlength=seats + 1)[1:]
        shown = ", ".join(f"{p}: {c}" for p, c in enumerate(counts.tolist(), 1))
        lines.append(
            f"mean place {row.mean_place:.2f}, win share {100 * row.win_share:.1f}%; places {shown}"
        )
        lines.append(f"last {min(last, len(games))} games (seat: member place):")
        for game in games[-last:]:
            pairs = zip(game.members, game.places, strict=True)
            seated = ", ".join(f"{s}: {m} {p}" for s, (m, p) in enumerate(pairs))
            lines.append(f"  seed {game.seed}, {game.steps} steps: {seated}")
    return "\n".join(lines)


def plot_ffa_run(store: Store, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write a PNG: every member's ``mu`` (with a ``± sigma`` band) against the games played,
    and the share of each placement per member (written to a temporary name, then renamed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    log = PlacementLog(store)
    ladder = ffa_ladder(store)
    config = log.config
    # each curve starts at its member's initial rating just before its first game (a
    # member added later, a league's snapshot, is not drawn flat before it joined)
    series: dict[str, list[tuple[int, float, float]]] = {name: [] for name in ladder.names}
    for game, name, mu, sigma in log.history():
        if not series[name]:
            series[name].append((game - 1, config.mu, config.sigma))
        series[name].append((game, mu, sigma))
    seats = max(ladder.seats, 1)
    shares = np.zeros((len(ladder.names), seats))
    index = {name: i for i, name in enumerate(ladder.names)}
    for game in log.games():
        for name, place in zip(game.members, game.places, strict=True):
            shares[index[name], place - 1] += 1
    shares /= np.maximum(shares.sum(axis=1, keepdims=True), 1)

    fig = Figure(figsize=(13.0, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_mu, ax_places = fig.subplots(1, 2, width_ratios=(1.25, 1.0))
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(ladder.names) <= 10 else "tab20"]
    ax_mu.set_prop_cycle(color=[palette(k % palette.N) for k in range(max(len(ladder.names), 1))])
    for name in ladder.names:
        if not series[name]:
            continue  # never played
        points = np.array(series[name])
        line = ax_mu.step(points[:, 0], points[:, 1], where="post", label=name, linewidth=1.2)
        ax_mu.fill_between(points[:, 0], points[:, 1] - points[:, 2], points[:, 1] + points[:, 2],
                           step="post", alpha=0.12, color=line[0].get_color())  # fmt: skip
    ax_mu.set_xlabel("games played in the run")
    ax_mu.set_ylabel("mu (band: ± sigma)")
    ax_mu.set_title(f"{store.env_id}: Plackett–Luce ratings over time")
    ax_mu.grid(alpha=0.3)
    if 0 < len(ladder.names) <= 16:
        ax_mu.legend(fontsize=8, loc="best")
    image = ax_places.imshow(shares, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax_places.set_title("share of games at each place")
    ax_places.set_xticks(range(seats))
    ax_places.set_xticklabels([str(p) for p in range(1, seats + 1)])
    ax_places.set_xlabel("place")
    ax_places.set_yticks(range(len(ladder.names)))
    ax_places.set_yticklabels(ladder.names, fontsize=8)
    fig.colorbar(image, ax=ax_places, shrink=0.8)
    from thrust_population.plotting import save_png

    return save_png(fig, path, dpi)
