"""``plot_run``: a run's Elo ratings over time and its win-rate matrix, as one PNG (matplotlib);
for a run with snapshot lineages (a league), also each lineage's Elo by generation.

Uses matplotlib's object-oriented API with the Agg canvas (no pyplot, no global backend change).
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thrust_population.population import compute_ladder
from thrust_population.store import Store

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["lineages", "plot_run"]


def lineages(store: Store) -> list[list[str]]:
    """Every snapshot lineage of a run: chains of members from a root (no parent) through its
    descendants, each chain in generation order, following the first-created child at each
    step; only chains with more than one member (e.g. a league's ``L0-g0, L0-g1, ...``)."""
    members = store.members()
    children: dict[str, list[str]] = {}
    for m in members:  # creation order
        if m.parent is not None:
            children.setdefault(m.parent, []).append(m.name)
    chains = []
    for m in members:
        if m.parent is None and m.name in children:
            chain = [m.name]
            while chain[-1] in children:
                chain.append(children[chain[-1]][0])
            chains.append(chain)
    return chains


def elo_series(store: Store) -> dict[str, tuple[list[float], list[float]]]:
    """Every member's Elo curve, ``name -> (games, elo)``: the run's cumulative games after each
    of its matches and its Elo then, from its start rating just before its first match (a
    member added later, a league's snapshot, is not drawn flat before it joined, as in the
    N-player plot); empty lists for a member who never played."""
    matches = store.matches()
    games_after = dict(
        zip([m.id for m in matches], np.cumsum([m.games for m in matches]).tolist(), strict=True)
    )
    games_of = {m.id: m.games for m in matches}
    config = store.elo_config
    series: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in store.member_names()
    }
    for match_id, name, elo in store.rating_history():
        xs, ys = series[name]
        if not xs:
            xs.append(float(games_after[match_id] - games_of[match_id]))
            ys.append(config.start_rating(name))
        xs.append(float(games_after[match_id]))
        ys.append(elo)
    return series


def plot_run(store: Store, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write a PNG with two panels: every member's Elo against the run's games played, and the
    win-rate matrix (row member's score against the column member) as a heatmap, members in
    ladder order. The file is written to a temporary name and renamed into place.

    :param store: an open run
    :param path: the PNG to write
    :return: ``path``
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    ladder = compute_ladder(store)
    order = [row.name for row in ladder.rows]
    n = len(order)

    series = elo_series(store)

    chains = lineages(store)
    fig = Figure(figsize=(19.0 if chains else 13.0, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    if chains:
        ax_elo, ax_gen, ax_map = fig.subplots(1, 3, width_ratios=(1.25, 1.0, 1.0))
        _plot_lineages(ax_gen, ladder, chains)
    else:
        ax_elo, ax_map = fig.subplots(1, 2, width_ratios=(1.25, 1.0))
    for name in order:
        xs, ys = series[name]
        if xs:  # else never played
            ax_elo.step(xs, ys, where="post", label=name, linewidth=1.2)
    ax_elo.set_xlabel("games played in the run")
    ax_elo.set_ylabel("Elo")
    ax_elo.set_title(f"{store.env_id}: Elo over time (K={store.elo_config.k:g})")
    ax_elo.grid(alpha=0.3)
    if 0 < n <= 16 and ax_elo.get_lines():  # a run without matches draws no curve
        ax_elo.legend(fontsize=8, loc="best")

    index = [ladder.names.index(name) for name in order]
    matrix = ladder.win_rates[np.ix_(index, index)] if n else np.zeros((0, 0))
    masked = np.ma.masked_invalid(matrix)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.85")  # grey: never met
    image = ax_map.imshow(masked, cmap=cmap, vmin=0.0, vmax=1.0)
    ax_map.set_title("win rate (row vs column; draws count half)")
    ax_map.set_xticks(range(n))
    ax_map.set_yticks(range(n))
    labels = order if n <= 30 else ["" for _ in order]
    ax_map.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax_map.set_yticklabels(labels, fontsize=8)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                if not math.isnan(value):
                    color = "white" if abs(value - 0.5) > 0.3 else "black"
                    ax_map.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                                color=color)  # fmt: skip
    fig.colorbar(image, ax=ax_map, shrink=0.8)
    return save_png(fig, path, dpi)


def save_png(fig: Any, path: Path, dpi: int) -> Path:
    """Write ``fig`` to ``path`` as a PNG through a temporary name in the same folder, renamed
    when complete (a reader never sees half a file)."""
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.png")
    try:
        fig.savefig(staging, format="png", dpi=dpi)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path


def _plot_lineages(ax: Axes, ladder: Any, chains: list[list[str]]) -> None:
    """Each lineage's Bradley–Terry rating (the refit of the whole record, with its interval)
    against its snapshots' generations; the members outside any lineage (bots, external
    policies) as horizontal reference lines. Online Elo would show each snapshot's rating when
    it stopped playing; the refit compares every member on the whole record."""
    rows = {row.name: row for row in ladder.rows}
    in_chains = {name for chain in chains for name in chain}
    for chain in chains:
        xs = [rows[name].generation for name in chain]
        ys = np.array([rows[name].bt for name in chain])
        low = np.array([rows[name].bt_lower for name in chain])
        high = np.array([rows[name].bt_upper for name in chain])
        line = ax.plot(xs, ys, marker="o", markersize=3, label=chain[0].removesuffix("-g0"))
        ax.fill_between(xs, low, high, alpha=0.15, color=line[0].get_color())
    others = [row.name for row in ladder.rows if row.name not in in_chains]
    for k, name in enumerate(others[:8]):
        ax.axhline(rows[name].bt, linestyle="--", linewidth=0.9,
                   color=f"C{(len(chains) + k) % 10}", label=name)  # fmt: skip
    ax.set_xlabel("generation")
    ax.set_ylabel("Bradley–Terry rating (Elo scale)")
    ax.set_title(f"snapshots by generation ({ladder.level:.0%} intervals; dashed: others)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
