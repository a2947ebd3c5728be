"""A league generation's report: a row per learner (snapshot, Elo, scores against the bots,
training opponents and speed), read back from the store by :meth:`League.report`."""

from __future__ import annotations

from dataclasses import dataclass

from thrust_population.ladder import format_table

__all__ = ["GenerationReport", "LearnerRow"]


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
        if self.steps is None or not self.seconds:
            return None
        return self.steps / self.seconds


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
