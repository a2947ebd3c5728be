"""Settings every test module shares."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _sb3_log_folder(tmp_path_factory: pytest.TempPathFactory):
    """SB3's ``learn`` makes a log folder in the system's temporary directory on every call
    when none is set (``stable_baselines3.common.logger.configure``: ``SB3-<date and time>``):
    the suite's go into one folder in pytest's own temporary directory (cleaned up by pytest,
    and inherited by the tests' subprocesses) instead of thousands left in /tmp."""
    previous = os.environ.get("SB3_LOGDIR")
    os.environ["SB3_LOGDIR"] = str(tmp_path_factory.mktemp("sb3-logs"))
    yield
    if previous is None:
        os.environ.pop("SB3_LOGDIR", None)
    else:
        os.environ["SB3_LOGDIR"] = previous
