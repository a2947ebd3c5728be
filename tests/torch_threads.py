"""``one_torch_thread``: the fixture that runs a test module with one torch thread.

The networks in the tests are tiny; on a small shared machine torch's idle-spinning worker
threads make them up to 20x slower, and some tests compare results across runs that must use
the same thread count. A test module opts in with
``from torch_threads import one_torch_thread as one_torch_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thrust_envs.core import threads


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the whole module (restored afterwards)."""
    with threads.one_torch_thread():
        yield
