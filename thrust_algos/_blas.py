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
from collections.abc import Iterator


def blas_available() -> str | None:
    """None if numba's ``np.dot`` can run here, else why not."""
    if importlib.util.find_spec("scipy") is None:
        return "SciPy is not installed (numba's np.dot needs it for BLAS)"
    return None


class OpenBLAS:
    """SciPy's OpenBLAS thread count, found through the symbols SciPy's wheels export
    (``found`` is False elsewhere, e.g. a SciPy built on another BLAS: then nothing is held,
    and the update runs its networks one after the other)."""

    def __init__(self) -> None:
        self._get = self._set = None
        spec = importlib.util.find_spec("scipy")
        if spec is None or spec.origin is None:
            return
        root = os.path.dirname(spec.origin)
        for pattern in ("../scipy.libs/libscipy_openblas*", ".dylibs/libscipy_openblas*"):
            for path in sorted(glob.glob(os.path.join(root, pattern))):
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
        """OpenBLAS at one thread for the block (nothing where it was not found)."""
        if self._set is None:
            yield
            return
        before = int(self._get())
        self._set(1)
        try:
            yield
        finally:
            self._set(before)


_openblas: OpenBLAS | None = None


def openblas() -> OpenBLAS:
    """The process's :class:`OpenBLAS` (looked up once)."""
    global _openblas
    if _openblas is None:
        _openblas = OpenBLAS()
    return _openblas
