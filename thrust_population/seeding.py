"""Seeds derived from seeds: every seed of a run (its matches, their players, a league's
learners and their opponents) comes from the run's seed through :func:`derive_seed`, so any of
them can be computed again from the record."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

__all__ = ["derive_seed", "match_seed", "player_seed"]


def derive_seed(*keys: int) -> int:
    """A 31-bit seed determined by the integers ``keys`` (NumPy's ``SeedSequence`` of them, its
    first word masked to 31 bits): different keys give independent-looking seeds."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def match_seed(run_seed: int, match_index: int) -> int:
    """The seed of match number ``match_index`` (0-based) of a run: a 31-bit integer."""
    return derive_seed(run_seed, match_index)


def player_seed(seed: int, side: int) -> int:
    """The seed of side ``side`` (0 for A, 1 for B) of the match seeded ``seed``."""
    return derive_seed(seed, 1 + int(side))


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """:func:`thrust_envs.core.threads.one_torch_thread` (the league builds its learners under
    it, as thrust_algos' PPO builds its policy), imported when a block runs: importing
    thrust_population stays free of thrust_envs and numba."""
    from thrust_envs.core.threads import one_torch_thread as torch_on_one_thread

    with torch_on_one_thread():
        yield
