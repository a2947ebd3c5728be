"""A league generation's report: a row per learner (snapshot, Elo, scores against the bots,
training opponents and speed), read back from the store by :meth:`League.report`; an N-player
league's, a row per evaluation player (rating, placements, speed)."""

from __future__ import annotations

from dataclasses import dataclass

from thrust_population.ladder import format_table

__all__ = ["FfaGenerationReport", "FfaPlayerRow", "GenerationReport", "LearnerRow"]


def _rate(steps: int | None, seconds: float | None) -> float | None:
    """Training steps per second (None when the steps or seconds are unknown)."""
    if steps is None or not seconds:
        return None
    return steps / seconds


@dataclass(frozen=True)
class LearnerRow:
    """One learner's line of a generation's table.

    Attributes:
        learner: the learner's index
        snapshot: its snapshot after the generation
        elo: the snapshot's Elo after the generation's evaluation
        bot_scores: the snapshot's score (draws half) against each bot in its evaluation match
        opponents: the training opponents of the generation, in order
        steps: environment steps trained (None if trained by an interrupted earlier attempt)
        seconds: wall-clock seconds of its training (None likewise)
    """

    learner: int
    snapshot: str
    elo: float
    bot_scores: dict[str, float]
    opponents: tuple[str, ...]
    steps: int | None
    seconds: float | None

    @property
    def steps_per_second(self) -> float | None:
        return _rate(self.steps, self.seconds)


@dataclass(frozen=True)
class GenerationReport:
    """What one generation did: a row per learner."""

    generation: int
    rows: list[LearnerRow]
    seconds: float

    def format(self) -> str:
        bots = sorted({b for row in self.rows for b in row.bot_scores})
        header = ("gen", "learner", "snapshot", "elo", *(f"vs {b}" for b in bots), "steps/s")
        lines = []
        for row in self.rows:
            sps = row.steps_per_second
            lines.append(
                (
                    str(self.generation),
                    row.snapshot.split("-g")[0],
                    row.snapshot,
                    f"{row.elo:.0f}",
                    *(
                        f"{100 * row.bot_scores[b]:.0f}%" if b in row.bot_scores else "-"
                        for b in bots
                    ),
                    "-" if sps is None else f"{sps:.0f}",
                )
            )
        right = tuple(range(3, len(header)))
        return format_table(header, lines, right=right)


@dataclass(frozen=True)
class FfaPlayerRow:
    """One player's line of an N-player generation's table (a learner's new snapshot, a parent
    or a bot).

    Attributes:
        player: the member
        mu, sigma: its Plackett–Luce rating after the generation's evaluation
        games: its evaluation games of the generation
        mean_place: its mean placement in them (1 = first; NaN without games)
        win_share: its share of first places in them (a k-way tie for first counts 1/k)
        opponents: a learner's training opponents (the matchmaker's draws); () otherwise
        steps, seconds: a learner's training steps and seconds (None otherwise, or when
            trained by an interrupted earlier attempt)
        learner: whether the row is a snapshot trained in this generation
    """

    player: str
    mu: float
    sigma: float
    games: int
    mean_place: float
    win_share: float
    opponents: tuple[str, ...]
    steps: int | None
    seconds: float | None
    learner: bool

    @property
    def ordinal(self) -> float:
        return self.mu - 3.0 * self.sigma

    @property
    def steps_per_second(self) -> float | None:
        return _rate(self.steps, self.seconds)


@dataclass(frozen=True)
class FfaGenerationReport:
    """What one generation of an N-player league did: a row per evaluation player."""

    generation: int
    rows: list[FfaPlayerRow]
    seconds: float
    seats: int

    def row(self, player: str) -> FfaPlayerRow:
        return next(r for r in self.rows if r.player == player)

    def format(self) -> str:
        header = ("gen", "player", "ordinal", "mu", "sigma", "games", "place", "wins", "steps/s")
        lines = []
        for row in self.rows:
            sps = row.steps_per_second
            lines.append(
                (
                    str(self.generation),
                    row.player + (" *" if row.learner else ""),
                    f"{row.ordinal:.2f}",
                    f"{row.mu:.2f}",
                    f"{row.sigma:.2f}",
                    str(row.games),
                    "-" if row.mean_place != row.mean_place else f"{row.mean_place:.2f}",
                    "-" if row.win_share != row.win_share else f"{100 * row.win_share:.1f}%",
                    "-" if sps is None else f"{sps:.0f}",
                )
            )
        note = (
            f"{self.seats}-seat evaluation games (* trained this generation); place: mean "
            "placement; wins: share of first places"
        )
        return note + "\n" + format_table(header, lines, right=tuple(range(2, len(header))))
