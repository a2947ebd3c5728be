"""A run directory's writer lock and its leftovers.

One writer at a time: every command that writes a run (``tournament``, ``train``, ``resume``,
a recorded ``play``) holds an exclusive ``flock`` on ``RUN/.lock`` (:class:`RunLock`); a second
writer is refused at once (:class:`RunBusy`) and writes nothing. ``flock`` locks die with
their process, so a killed writer never leaves a stale lock. :meth:`Store.create` takes the
lock inside its hidden staging directory, so the creator holds it from the first byte on.

Leftovers of killed writers (:func:`leftovers`): an artifact's temporary file
(``artifacts/.NAME.<hex>.zip``), a worker's staged model (``league-staging/``), an export's
``FILE.tmp`` and a creation's hidden ``.RUN.creating-<hex>/`` sibling whose creator is gone
(its lock is free). ``verify`` reports them; a writer removes them (:func:`clean_leftovers`)
once it holds the lock.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "LOCK_NAME",
    "RunBusy",
    "RunCreation",
    "RunLock",
    "clean_leftovers",
    "creation_leftovers",
    "leftovers",
]

#: The lock file of a run directory.
LOCK_NAME = ".lock"
#: The hidden temporary names writers use: ``.NAME.<hex>.SUFFIX`` (artifacts) and ``*.tmp``.
_ARTIFACT_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.[A-Za-z0-9]+$")
_STAGING_DIR = "league-staging"
_EXPORTS_DIR = "exports"


class RunBusy(OSError):
    """Another process is writing the run (it holds the run's lock)."""


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``directory/.lock``, held until :meth:`release`
    (or the process ends).

    :raises RunBusy: from :meth:`acquire`, when another process holds it
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        import fcntl

        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunBusy(
                f"{self.directory} is being written by another process (it holds "
                f"{self.directory / LOCK_NAME}); wait for it to finish"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def moved(self, directory: str | os.PathLike[str]) -> None:
        """Record that the locked directory was renamed to ``directory`` (the lock follows the
        open file, not the name)."""
        self.directory = Path(directory)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire() if not self.held else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock_is_free(directory: Path) -> bool:
    """Whether nobody holds ``directory``'s lock (True without a lock file)."""
    if not (directory / LOCK_NAME).is_file():
        return True
    try:
        RunLock(directory).acquire().release()
    except RunBusy:
        return False
    except OSError:
        return False  # cannot tell (read-only): leave it alone
    return True


def creation_leftovers(directory: str | os.PathLike[str]) -> list[Path]:
    """Hidden ``.NAME.creating-<hex>`` siblings of run ``directory`` whose creator is gone."""
    directory = Path(directory)
    parent = directory.parent
    if not parent.is_dir():
        return []
    prefix = f".{directory.name}.creating-"
    return sorted(
        p for p in parent.iterdir() if p.name.startswith(prefix) and p.is_dir() and _lock_is_free(p)
    )


def leftovers(directory: str | os.PathLike[str]) -> list[Path]:
    """The temporary files and folders killed writers left in (and next to) a run."""
    directory = Path(directory)
    found = creation_leftovers(directory)
    artifacts = directory / "artifacts"
    if artifacts.is_dir():
        found += sorted(p for p in artifacts.iterdir() if _ARTIFACT_TEMP.match(p.name))
    staging = directory / _STAGING_DIR
    if staging.is_dir():
        found += sorted(staging.iterdir())
    exports = directory / _EXPORTS_DIR
    if exports.is_dir():
        found += sorted(p for p in exports.iterdir() if p.name.endswith(".tmp"))
    return found


def clean_leftovers(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove :func:`leftovers` (call it holding the run's lock); return what was removed."""
    removed = leftovers(directory)
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


class RunCreation:
    """The creation of a run at ``out`` and its first writes, all or nothing: if the block
    raises (or is interrupted) once :meth:`created` was called, the run is closed and removed,
    and ``out`` is left as it was (an empty directory the user made stays). Before
    :meth:`created`, a failed creation has written nothing (:meth:`Store.create` stages it).

    ::

        with RunCreation(out) as creation:
            population = Population.create(out, ...)
            creation.created(population.close)
            population.add(spec)
    """

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self._existed = self.out.is_dir()
        self._close: Callable[[], None] | None = None

    def created(self, close: Callable[[], None]) -> None:
        """The run exists now; ``close`` closes it."""
        self._close = close

    def __enter__(self) -> RunCreation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> bool:
        if exc_type is not None and self._close is not None:
            self._close()
            shutil.rmtree(self.out, ignore_errors=True)
            if self._existed:
                self.out.mkdir()
        return False
