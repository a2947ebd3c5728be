"""Per-row random streams for the batch kernels.

Every environment row owns one ``uint64`` word of generator state (SplitMix64). A row draws
only from its own word, so a kernel may step rows in any order, on any number of threads, and
still produce the same numbers: determinism does not depend on the thread count.

The functions here are plain scalar functions of one row (math and array indexing only), so
the same code can later run inside a CUDA kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _MIX_1
    z = (z ^ (z >> _S27)) * _MIX_2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def next_u64(rng: np.ndarray, i: int) -> np.uint64:
    """Advance row ``i``'s stream and return 64 random bits."""
    rng[i] += _GOLDEN_GAMMA
    return _mix64(rng[i])


@njit(cache=True, inline="always")
def next_double(rng: np.ndarray, i: int) -> float:
    """A uniform double in [0, 1) with 53 random bits, from row ``i``'s stream."""
    return float(next_u64(rng, i) >> _S11) * _TWO_POW_M53


@njit(cache=True, inline="always")
def uniform(rng: np.ndarray, i: int, low: float, high: float) -> float:
    """A uniform double in [low, high) from row ``i``'s stream."""
    return low + (high - low) * next_double(rng, i)


@njit(cache=True, inline="always")
def seeded_stream(seed: np.uint64) -> np.uint64:
    """The state of a stream seeded with ``seed`` (hashed, so seeds ``s`` and ``s + 1`` give
    unrelated streams)."""
    return _mix64(np.uint64(seed) + _GOLDEN_GAMMA)


@njit(cache=True)
def seed_rows(rng: np.ndarray, rows: np.ndarray, seeds: np.ndarray) -> None:
    """Seed ``rng[rows[k]]`` from ``seeds[k]`` (:func:`seeded_stream`)."""
    for k in range(rows.shape[0]):
        rng[rows[k]] = seeded_stream(seeds[k])


def entropy_seeds(n: int) -> np.ndarray:
    """``n`` seeds from the operating system's entropy, for ``reset(seed=None)``."""
    return np.random.SeedSequence().generate_state(n, dtype=np.uint64)
