"""Settings every test module shares."""

from __future__ import annotations

import os

import pytest

try:
    from hypothesis import settings
except ImportError:  # a machine without it (the lent GPU's) still runs the other tests
    settings = None

# Property tests draw new examples on each run of `./dev.sh test` (how they find what nobody
# thought to try); CI (`.ci/run` sets THRUST_HYPOTHESIS_PROFILE=ci) draws the same examples
# every time, so that whether a change lands does not depend on the draw. Decorators'
# @settings inherit the profile loaded here, before the test modules are imported.
if settings is not None:
    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("random", print_blob=True)
    settings.load_profile(os.environ.get("THRUST_HYPOTHESIS_PROFILE", "random"))


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
