"""Running numba's parallel kernels without changing a thread setting the user made.

Two of numba's behaviours would otherwise leak out of Thrust's kernels:

- **Starting numba's threading layer resets OpenMP's thread count.** numba starts its layer
  lazily, at the first ``numba.get_num_threads``/``set_num_threads`` call or the first
  compilation or call of a ``parallel=True`` function. Its OpenMP layer (the one chosen when
  TBB is not installed) then calls ``omp_set_num_threads(NUMBA_NUM_THREADS)`` and
  ``omp_set_nested(1)`` on the calling thread (``numba/np/ufunc/omppool.cpp``,
  ``launch_threads``). torch's CPU build loads the same ``libgomp.so.1`` (one library per
  soname in a process) and reads its thread count from that OpenMP setting, so a
  ``torch.set_num_threads(1)`` (or ``OMP_NUM_THREADS=1``) made before the first parallel
  numba call was silently undone: torch's next operations ran on every core.
  :func:`launch_numba_threads` starts the layer itself, once, and puts the calling thread's
  OpenMP settings back as they were. numba's own parallel regions are unaffected: they pass
  their thread count in each region's ``num_threads`` clause, never through that setting.
- **``numba.set_num_threads`` is sticky** (a per-thread mask that stays after the call): a
  kernel run with the env's ``num_threads`` would leave the user's ``numba.set_num_threads``
  overwritten. :class:`numba_threads` sets the count for one call and restores it.

:func:`one_torch_thread` is torch's counterpart for building a model: one thread for a block,
the caller's count restored after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from types import TracebackType

import numba

_launch_lock = threading.Lock()
_launched = False
# numba's thread-count calls, resolved at launch. The public ones take a process-wide lock on
# every call (measured 10-19 us each on this 2-core VM, as much as stepping thousands of rows);
# once the layer runs, the layer's own C functions behind them (~0.2-3 us) do the same, so those
# are used when this numba has them, the public ones otherwise.
_get_num_threads: Callable[[], int] = numba.get_num_threads
_set_num_threads: Callable[[int], None] = numba.set_num_threads


_OPENMP_CALLS = (
    "omp_get_max_threads",
    "omp_set_num_threads",
    "omp_get_max_active_levels",
    "omp_set_max_active_levels",
)


def _openmp_runtimes() -> list[ctypes.CDLL]:
    """The OpenMP runtimes numba's OpenMP layer may call, each once.

    A process can hold two: torch's wheel ships its own ``libgomp.so.1`` and loads it into the
    global symbol scope, while numba's layer names the system's ``libgomp.so.1.0.0`` (a
    different file name, so the loader does not share it). The layer's calls resolve through
    the global scope first (torch's runtime, when torch was imported first: measured, that is
    the one whose thread count it reset), else through its own dependency. Both are returned;
    none where they cannot be reached (no OpenMP layer; a loader that does not resolve a
    library's dependencies through its handle, as on Windows)."""
    handles = []
    with contextlib.suppress(OSError):
        handles.append(ctypes.CDLL(None))  # the global scope
    try:
        from numba.np.ufunc import omppool

        handles.append(ctypes.CDLL(omppool.__file__))  # resolves through its own dependencies
    except (ImportError, OSError):
        pass
    runtimes, seen = [], set()
    for handle in handles:
        try:
            calls = [getattr(handle, name) for name in _OPENMP_CALLS]
        except AttributeError:
            continue
        address = ctypes.cast(calls[1], ctypes.c_void_p).value
        if address not in seen:
            seen.add(address)
            runtimes.append(handle)
    return runtimes


def launch_numba_threads() -> None:
    """Start numba's threading layer (once per process) without changing the calling
    thread's OpenMP settings (thread count and nesting levels), which torch shares.

    Call it before anything that can start the layer: ``numba.get_num_threads()``, and the
    first call (which compiles or loads) of a ``parallel=True`` kernel."""
    global _launched
    if _launched:
        return
    with _launch_lock:
        if _launched:
            return
        runtimes = _openmp_runtimes()
        saved = [(rt.omp_get_max_threads(), rt.omp_get_max_active_levels()) for rt in runtimes]
        numba.get_num_threads()  # starts the layer, if nothing has yet
        for runtime, (threads, levels) in zip(runtimes, saved, strict=True):
            runtime.omp_set_num_threads(threads)
            runtime.omp_set_max_active_levels(levels)
        global _get_num_threads, _set_num_threads
        from numba.np.ufunc import parallel

        layer_get = getattr(parallel, "_get_num_threads", None)
        layer_set = getattr(parallel, "_set_num_threads", None)
        if callable(layer_get) and callable(layer_set):
            _get_num_threads, _set_num_threads = layer_get, layer_set
        _launched = True


class numba_threads:  # lower case: used like a function, ``with numba_threads(4): ...``
    """Run a block with numba's thread count set to ``threads`` on this thread, then put back
    the count that was in force (the user's ``numba.set_num_threads`` survives). Starts
    numba's threading layer through :func:`launch_numba_threads` first."""

    __slots__ = ("previous", "threads")

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.previous = 0

    def __enter__(self) -> None:
        launch_numba_threads()
        self.previous = _get_num_threads()
        _set_num_threads(self.threads)  # checked by the caller: 1 <= threads <= the pool size

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _set_num_threads(self.previous)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with torch on one thread, then restore the caller's setting. Building a
    model there makes its initial weights independent of the thread count: SB3 initialises
    with ``orthogonal_``, whose QR decomposition (LAPACK) sums in an order that depends on the
    number of threads, so that a 512-wide layer's weights differed by 3e-6 between one and two
    threads, and SB3's default 64-wide MLP's by 2.4e-7 (the same seed must give the same
    model whatever the thread count). torch is imported here: thrust_envs does not need it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
