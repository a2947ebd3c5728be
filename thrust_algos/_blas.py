"""The BLAS under numba's ``np.dot``, for the compiled rollout and update (CPU).

numba's ``np.dot`` calls BLAS through SciPy (``scipy.linalg.cython_blas``); without SciPy,
:func:`blas_available` says so and the fused rollout and the one-call update fall back to
their torch paths. :func:`openblas` holds SciPy's OpenBLAS at one thread while a kernel runs:

- inside the update's numba (OpenMP) parallel region, OpenBLAS's own threads detect the OpenMP
  loop and crawl (272 ms an update instead of 3 ms, measured);
- after a multi-threaded product, OpenBLAS's worker threads spin for a while and take a core
  from the numba threads that run next (a 256-env CartPole rollout and update, 0.43 s, took
  1.07 s until the rollout's products were held at one thread too).

The thread count is process-wide, so another thread's SciPy products run single-threaded
while a kernel runs; it is restored after each call.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import os
import threading
from collections.abc import Iterator


def blas_available() -> str | None:
    """None if numba's ``np.dot`` can run here, else why not."""
    if importlib.util.find_spec("scipy") is None:
        return "SciPy is not installed (numba's np.dot needs it for BLAS)"
    return None


class OpenBLAS:
    """SciPy's OpenBLAS thread count (``found`` is False where SciPy runs on another BLAS:
    then nothing is held, and the update runs its networks one after the other).

    The library is the one numba's ``np.dot`` calls: looked up through SciPy's
    ``cython_blas`` extension (its BLAS is a dependency of it), then, failing that, by the
    file names SciPy's wheels use.
    """

    def __init__(self) -> None:
        self._get = self._set = None
        self._lock = threading.Lock()
        self._depth = 0
        self._before = 1
        spec = importlib.util.find_spec("scipy")
        if spec is None or spec.origin is None:
            return
        candidates = []
        try:
            from scipy.linalg import cython_blas

            candidates.append(cython_blas.__file__)
        except ImportError:
            pass
        root = os.path.dirname(spec.origin)
        for pattern in ("../scipy.libs/libscipy_openblas*", ".dylibs/libscipy_openblas*"):
            candidates += sorted(glob.glob(os.path.join(root, pattern)))
        for path in candidates:
            try:
                library = ctypes.CDLL(path)
                get, set_ = (
                    library.scipy_openblas_get_num_threads,
                    library.scipy_openblas_set_num_threads,
                )
            except (OSError, AttributeError):
                continue
            set_.argtypes = [ctypes.c_int]
            get.restype = ctypes.c_int
            self._get, self._set = get, set_
            return

    @property
    def found(self) -> bool:
        return self._set is not None

    @contextlib.contextmanager
    def one_thread(self) -> Iterator[None]:
        """OpenBLAS at one thread for the block (nothing where it was not found). Blocks may
        overlap (two models training on two Python threads: the kernels release the GIL):
        the first to enter saves the count, the last to leave restores it."""
        if self._set is None:
            yield
            return
        with self._lock:
            if self._depth == 0:
                self._before = max(int(self._get()), 1)
                self._set(1)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._set(self._before)


_openblas: OpenBLAS | None = None


def openblas() -> OpenBLAS:
    """The process's :class:`OpenBLAS` (looked up once)."""
    global _openblas
    if _openblas is None:
        _openblas = OpenBLAS()
    return _openblas
