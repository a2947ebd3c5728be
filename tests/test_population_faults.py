"""Faults of the run directory and the command line (issue 20 items 4, 6, 7, 8, 9; issue 19
item 10): one writer at a time, leftovers of killed writers found and removed, read-only runs,
a full disk, contradictory options and a closed pipe reported in one line, nothing written."""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from thrust_population.cli import main
from thrust_population.rundir import RunLock
from thrust_population.store import Store

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from test_population_cli import snapshot, tournament  # noqa: E402

#: PYTHONPATH of the subprocesses: the test helpers and this checkout first
PATH = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, *args: str) -> str:
    """Run the CLI, check exit status ``code`` with one line on stderr and nothing on stdout."""
    assert main(list(args)) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("thrust-population: error: "), captured.err
    return lines[0]


@pytest.fixture()
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "run"
    assert main(tournament(out, games="96")) == 0
    capsys.readouterr()
    return out


# -- one writer at a time (issue 20, item 6) ------------------------------------------------------


def test_a_second_writer_is_refused_and_writes_nothing(run, capsys):
    before = snapshot(run)
    with RunLock(run):  # another writer (flock locks are per open file: same process is fine)
        for args in (
            tournament(run, games="192"),
            ["play", str(run), "level:0", "random", "--games", "4"],
        ):
            line = one_line_error(capsys, 2, *args)
            assert "being written by another process" in line
        assert snapshot(run) == before
        # readers are not writers
        assert main(["ladder", str(run)]) == 0 and main(["verify", str(run)]) == 0
    capsys.readouterr()
    assert main(tournament(run, games="192")) == 0  # the lock is free again
    with Store.open(run, readonly=True) as store:
        assert store.n_games() == 192


def test_a_second_process_is_refused_while_a_tournament_plays(run, capsys):
    """Two real processes: while one plays (it has committed a batch), the other is refused
    in one line and writes nothing; the run stays consistent."""
    from test_population_crash import committed_batches

    start = committed_batches(run)
    first = subprocess.Popen(
        [sys.executable, "-m", "thrust_population", *tournament(run, games="400000")],
        env=dict(os.environ, PYTHONPATH=PATH),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while committed_batches(run) <= start:
            assert first.poll() is None and time.monotonic() < deadline, "the first never played"
            time.sleep(0.05)
        line = one_line_error(capsys, 2, *tournament(run, games="400000"))
        assert "being written by another process" in line
        assert first.poll() is None  # the first writer plays on
    finally:
        first.kill()
        first.communicate(timeout=60)
    with Store.open(run, readonly=True) as store:
        assert store.verify() == []


def test_verify_reports_a_missing_artifact(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tournament(out, games="1")) == 0
    with Store.open(out) as store:  # a member whose file was deleted
        store.add_member("frozen", "numpy", "p.npz", artifact="artifacts/frozen.npz")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert "artifact of frozen is missing" in capsys.readouterr().out


# -- leftovers of killed writers (issue 20, items 3 and 7) ----------------------------------------


def test_leftovers_are_reported_by_verify_and_removed_by_the_next_writer(run, tmp_path, capsys):
    orphan = run / "artifacts" / ".level:0.npz.0123abcd.npz"
    orphan.write_bytes(b"half an artifact")
    (run / "exports").mkdir()
    export_tmp = run / "exports" / "L0-g1.npz.tmp"
    export_tmp.write_bytes(b"half an export")
    creating = tmp_path / ".run.creating-89abcdef"
    creating.mkdir()
    (creating / "population.sqlite").write_bytes(b"")
    assert main(["verify", str(run)]) == 1
    out = capsys.readouterr().out
    for path in (orphan, export_tmp, creating):
        assert f"leftover of a killed writer: {path}" in out
    assert main(tournament(run, games="120")) == 0  # a writer cleans up
    assert not orphan.exists() and not export_tmp.exists() and not creating.exists()
    capsys.readouterr()
    assert main(["verify", str(run)]) == 0


def test_a_creation_in_progress_is_not_a_leftover(tmp_path, capsys):
    creating = tmp_path / ".run.creating-89abcdef"
    creating.mkdir()
    with RunLock(creating):  # its creator is alive
        assert main(tournament(tmp_path / "run", games="24")) == 0
        assert creating.is_dir()
    assert main(tournament(tmp_path / "other", games="24")) == 0
    assert creating.is_dir()  # another run's name: not touched
    assert main(tournament(tmp_path / "run", games="48")) == 0
    assert not creating.exists()  # the creator is gone: removed by the next writer


def test_a_failed_export_leaves_no_temporary_file(tmp_path, monkeypatch):
    import numpy as np

    from thrust_export import artifact

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space"):
        arrays = {"w": np.zeros(2, np.float32)}
        artifact.write_artifact(tmp_path / "p.npz", {"format": "x"}, arrays)
    assert list(tmp_path.iterdir()) == []


# -- a full disk, read-only runs (issue 20, items 8 and 9) ----------------------------------------


def test_a_full_disk_at_creation_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import thrust_population.store as store_module

    def no_space(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store_module.Store, "_connect", classmethod(no_space))
    line = one_line_error(capsys, 2, *tournament(tmp_path / "run", games="24"))
    assert "disk is full" in line
    assert list(tmp_path.iterdir()) == []

    def replace_fails(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.undo()
    monkeypatch.setattr(store_module.os, "replace", replace_fails)
    assert "No space" in one_line_error(capsys, 2, *tournament(tmp_path / "run", games="24"))
    assert list(tmp_path.iterdir()) == []


def _nobody() -> tuple[int, int] | None:
    """The uid and gid of ``nobody`` when this process may switch to it (root, setpriv)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    # nobody must be able to read this checkout and its venv (a clone under a private
    # directory, such as mktemp -d's, is unreadable to other users).
    probe = subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
        + [sys.executable, "-c", "import thrust_population"],
        env=dict(os.environ, PYTHONPATH=PATH),
        cwd="/",
        capture_output=True,
        timeout=120,
    )
    return (entry.pw_uid, entry.pw_gid) if probe.returncode == 0 else None


@pytest.mark.skipif(
    _nobody() is None,
    reason="needs root, setpriv and a checkout the user nobody can read, to read as another user",
)
def test_read_commands_on_a_read_only_run(capsys):
    """The run belongs to root and is read-only (chmod -R a-w); the read commands run as
    ``nobody`` (setpriv), who really cannot write there (root could: chmod does not stop it)."""
    uid, gid = _nobody()
    base = Path(tempfile.mkdtemp(prefix="thrust-ro-"))
    try:
        base.chmod(0o755)
        out = base / "run"
        assert main(tournament(out, games="96")) == 0
        capsys.readouterr()
        elsewhere = base / "elsewhere"
        elsewhere.mkdir()
        os.chown(elsewhere, uid, gid)
        subprocess.run(["chmod", "-R", "a-w", str(out)], check=True)
        env = dict(
            os.environ,
            PYTHONPATH=PATH,
            HOME=str(elsewhere),
            NUMBA_CACHE_DIR=str(elsewhere / "numba"),
            MPLCONFIGDIR=str(elsewhere / "mpl"),
        )
        setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        for args in (
            ["ladder", str(out)],
            ["ladder", str(out), "--json"],
            ["show", str(out), "level:2"],
            ["verify", str(out)],
            ["plot", str(out), "-o", str(elsewhere / "p.png")],
        ):
            result = subprocess.run(
                [*setpriv, sys.executable, "-m", "thrust_population", *args],
                capture_output=True,
                text=True,
                env=env,
                cwd=elsewhere,
                timeout=300,
            )
            assert result.returncode == 0, (args, result.stderr)
            assert result.stderr == "" or "Warning" in result.stderr, result.stderr
        assert (elsewhere / "p.png").read_bytes()[:4] == b"\x89PNG"
        denied = subprocess.run(
            [*setpriv, sys.executable, "-m", "thrust_population", *tournament(out, games="200")],
            capture_output=True,
            text=True,
            env=env,
            cwd=elsewhere,
            timeout=300,
        )
        assert denied.returncode == 2 and denied.stderr.count("\n") == 1, denied.stderr
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)


# -- the command line (issue 20 item 4, issue 19 item 10) -----------------------------------------


def test_anchor_rating_without_anchor_is_an_error(tmp_path, capsys):
    args = tournament(tmp_path / "run", "--anchor-rating", "1000")
    assert "--anchor-rating is given without --anchor" in one_line_error(capsys, 2, *args)
    assert list(tmp_path.iterdir()) == []


def test_ladder_json_into_a_closed_pipe_is_quiet(run):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written (``| head`` done)
    try:
        env = dict(os.environ, PYTHONPATH=PATH)
        result = subprocess.run(
            [sys.executable, "-m", "thrust_population", "ladder", str(run), "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=300,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 1


def test_a_member_without_games_shows_no_nash_value(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tournament(out, games="1")) == 0
    with Store.open(out) as store:
        store.add_member("late", "bot", "level:1")
    capsys.readouterr()
    assert main(["ladder", str(out)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if " late " in line)
    assert row.split()[-3:] == ["-", "0", "-"]  # nash, games, score
    assert "-: no games" in table
    assert main(["show", str(out), "late"]) == 0
    assert "nash        -\n" in capsys.readouterr().out


# -- damaged rows and metadata --------------------------------------------------------------------


def damaged_copy(run: Path, where: Path, sql: str) -> Path:
    """A copy of ``run`` at ``where`` with ``sql`` run on its database (the damage)."""
    shutil.copytree(run, where)
    db = sqlite3.connect(where / "population.sqlite")
    try:
        db.executescript(sql)
        db.commit()
    finally:
        db.close()
    return where


def check_damage_is_reported(
    capsys: pytest.CaptureFixture[str], run: Path, message: str, refusing: list[list[str]]
) -> None:
    """``verify`` reports ``message`` as a problem (exit status 1); each command of ``refusing``
    is refused in one line naming it (exit status 2) and changes nothing."""
    assert main(["verify", str(run)]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert any(line.startswith("problem: ") and message in line for line in problems), problems

    before = snapshot(run)
    for args in refusing:
        assert message in one_line_error(capsys, 2, *args)
    assert snapshot(run) == before


ALL_READERS = ("ladder", "show", "tournament")


@pytest.mark.parametrize(
    ("sql", "message", "refusing"),
    [
        ("DELETE FROM ratings WHERE member = 1", "ratings row missing", ALL_READERS),
        ("DELETE FROM meta WHERE key = 'elo'", "no Elo configuration", ALL_READERS),
        (
            "UPDATE meta SET value = '{\"k\": 16, \"x\": 1}' WHERE key = 'elo'",
            "unknown keys",
            ALL_READERS,
        ),
        # only what reads a damaged value refuses: the seed is read to play, the outcome
        # string to replay the log (the ladder reads the win/draw/loss counts)
        ("UPDATE meta SET value = '-3' WHERE key = 'seed'", "bad run seed", ("tournament",)),
        (
            "UPDATE matches SET outcomes = replace(hex(zeroblob(games)), '00', 'X') WHERE id = 1",
            "damaged outcome string",
            (),
        ),
    ],
)
def test_damaged_rows_and_metadata_are_reported_not_raised(
    run, tmp_path, capsys, sql, message, refusing
):
    damaged = damaged_copy(run, tmp_path / "damaged", sql)
    commands = {
        "ladder": ["ladder", str(damaged)],
        "show": ["show", str(damaged), "level:0"],
        "tournament": tournament(damaged, games="192"),
    }
    check_damage_is_reported(capsys, damaged, message, [commands[c] for c in refusing])
    for name in ("ladder", "show"):
        if name not in refusing:
            assert main(commands[name]) == 0
