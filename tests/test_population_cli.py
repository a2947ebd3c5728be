"""The thrust-population command line: through ``python -m thrust_population`` and main()."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from thrust_population.cli import main
from thrust_population.store import DB_NAME, Store

TESTS = Path(__file__).resolve().parent
FACTORY = ["--factory", "population_helpers:vs_opponent"]
LEVELS = "level:0,level:2,level:4,random"


def tournament(out: Path, *extra: str, players: str = LEVELS, games: str = "1200") -> list[str]:
    return [
        "tournament",
        "--env",
        "Toy/Duel-v0",
        *FACTORY,
        "--players",
        players,
        "--games",
        games,
        "--out",
        str(out),
        "--games-per-match",
        "24",
        "--no-progress",
        *extra,
    ]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "thrust_population", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=path),
        cwd=cwd,
        timeout=300,
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes (to check that nothing was written),
    except what a reader of a WAL database leaves without writing anything: its ``-shm`` index
    and an empty ``-wal`` (so the result does not depend on which tests read the run first)."""
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
        and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(tournament(out)) == 0
    return out


def test_python_m_tournament_shows_progress_then_the_table(tmp_path):
    out = tmp_path / "runs" / "x"
    args = tournament(out, players="level:0,level:4,strong=level:3", games="480")
    args.remove("--no-progress")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "game" in result.stderr and "480/480" in result.stderr  # tqdm's bar
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "member", "elo"]
    ranked = [line.split()[1] for line in lines[2:5]]
    assert ranked == ["level:4", "strong", "level:0"]
    assert "win rate (row vs column)" in result.stdout
    with Store.open(out) as store:
        assert store.n_games() == 480 and store.verify() == []
    # reading a run needs neither its game nor its env factory's module
    reader = subprocess.run(
        [sys.executable, "-m", "thrust_population", "ladder", str(out)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        cwd=tmp_path,
        timeout=300,
    )
    assert reader.returncode == 0, reader.stderr
    assert "3 members, 20 matches, 480 games" in reader.stdout


def test_python_m_user_error_is_one_line(tmp_path):
    result = run_cli(*tournament(tmp_path / "x", "--matchmaking", "nobody"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("thrust-population: error: unknown matchmaking 'nobody'")
    assert not (tmp_path / "x").exists()


def test_ladder_json_and_table(run_dir, capsys):
    assert main(["ladder", str(run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in data["rows"]]
    assert names.index("level:4") < names.index("level:2") < names.index("level:0")
    for row in data["rows"]:
        assert row["bt_lower"] < row["bt"] < row["bt_upper"]
        assert row["games"] == 600 and 0 <= row["score"] <= 1
    assert len(data["win_rates"]) == 4 and data["games"][0][1] > 0
    assert main(["ladder", str(run_dir), "--level", "0.5", "--no-matrix"]) == 0
    out = capsys.readouterr().out
    assert "bt 50% interval" in out and "win rate" not in out
    assert out.splitlines()[0].endswith("4 members, 50 matches, 1200 games")


def test_play_records_a_head_to_head(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    assert main(tournament(copy, games="96")) == 0
    capsys.readouterr()
    assert main(["play", str(copy), "level:4", "level:0", "--games", "100", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "level:4 vs level:0 on Toy/Duel-v0: 100 games, seed 3" in out
    assert "level:4 in seat 0:" in out and "level:4 in seat 1:" in out
    with Store.open(copy) as store:
        last = store.matches()[-1]
        assert (last.player_a, last.player_b, last.games, last.seed) == (
            "level:4",
            "level:0",
            100,
            3,
        )
        assert store.verify() == []
        before = store.n_matches()
    assert main(["play", str(copy), "level:4", "level:0", "--games", "10", "--no-record"]) == 0
    assert "recorded" not in capsys.readouterr().out
    with Store.open(copy) as store:
        assert store.n_matches() == before


def test_show_a_member(run_dir, capsys):
    assert main(["show", str(run_dir), "level:2", "--matches", "3"]) == 0
    out = capsys.readouterr().out
    assert "member      level:2" in out and "kind        bot" in out
    assert "generation  0" in out and "bt " in out
    assert "last 3 matches" in out
    assert out.count("level:") >= 4


def test_plot_with_a_member_that_never_played(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tournament(out, games="1")) == 0
    with Store.open(out) as store:  # one game: one match, and a member who never played
        store.add_member("late", "bot", "level:1")
    capsys.readouterr()
    assert main(["plot", str(out)]) == 0
    assert (out / "population.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_of_a_run_without_matches_warns_nothing(tmp_path):
    import warnings

    from thrust_population.plotting import plot_run

    with Store.create(tmp_path / "run", "Thrust/Pong-v0") as store:
        store.add_member("a", "bot", "level:1")
        store.add_member("b", "bot", "level:2")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # matplotlib: "No artists with labels found"
            png = plot_run(store, tmp_path / "plot.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_writes_a_png(run_dir, tmp_path, capsys):
    target = tmp_path / "plot.png"
    assert main(["plot", str(run_dir), "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_verify(run_dir, tmp_path, capsys):
    assert main(["verify", str(run_dir)]) == 0
    assert "integrity ok" in capsys.readouterr().out
    tampered = tmp_path / "tampered"
    assert main(tournament(tampered, games="96")) == 0
    capsys.readouterr()
    with sqlite3.connect(tampered / DB_NAME) as db:
        db.execute("UPDATE ratings SET elo = 0 WHERE member = 1")
    assert main(["verify", str(tampered)]) == 1
    assert "problem: Elo of level:0" in capsys.readouterr().out


def test_resume_adds_games_and_players(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tournament(out, players="level:0,level:1", games="96")) == 0
    resumed = tournament(out, players="level:0,level:1,level:3", games="480")
    resumed[3:5] = []  # without --factory: the run's recorded factory
    assert resumed[:4] == ["tournament", "--env", "Toy/Duel-v0", "--players"]
    assert main(resumed) == 0
    with Store.open(out) as store:
        assert store.n_games() == 480 and store.member_names() == ["level:0", "level:1", "level:3"]
    capsys.readouterr()
    assert main(tournament(out, players="level:0,level:1", games="100")) == 0
    assert "already holds 480 games" in capsys.readouterr().out


def test_every_subcommand_has_help(capsys):
    for command in ("tournament", "ladder", "play", "plot", "show", "verify"):
        assert main([command, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: thrust-population {command}")
    assert main(["--help"]) == 0
    assert "tournament" in capsys.readouterr().out


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """``args`` with ``option`` set to ``value`` (replaced, or appended)."""
    args = list(args)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    return args


def _user_error(args: list[str], capsys: pytest.CaptureFixture[str], match: str) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("thrust-population: error: ")
    assert match in captured.err, captured.err


@pytest.mark.parametrize(
    "change, match",
    [
        ({"--env": "Toy/Nope-v0"}, "unknown environment"),
        ({"--env": "Toy/Solo-v0"}, "not a two-player game"),
        ({"--players": "level:0,bogus"}, "unknown player 'bogus'"),
        ({"--players": "level:0,level:99"}, "bad bot spec"),
        ({"--players": "level:0,rock"}, "cannot play"),
        ({"--players": "level:0"}, "at least two players"),
        ({"--players": "level:0,level:0"}, "given twice"),
        ({"--players": "level:0,,level:1"}, "empty entry"),
        ({"--players": "level:0,missing.npz"}, "no such policy file"),
        ({"--matchmaking": "elo-please"}, "unknown matchmaking"),
        ({"--factory": "no_such_module_xyz:f"}, "cannot import"),
        ({"--games": "0"}, "--games: expected a positive integer"),
        ({"--anchor": "level:7"}, "--anchor"),
    ],
)
def test_tournament_user_errors_write_nothing(tmp_path, capsys, change, match):
    args = tournament(tmp_path / "new")
    for option, value in change.items():
        args = with_option(args, option, value)
    _user_error(args, capsys, match)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ["show", "{run}", "level:0", "--matches", HUGE],
        ["play", "{run}", "level:0", "level:2", "--games", HUGE],
        ["play", "{run}", "level:0", "level:2", "--seed", str(2**63)],
        ["tournament", "--env", "Toy/Duel-v0", "--players", "a=level:0,b=level:1", "--out",
         "{run}", "--games", HUGE],
        ["train", "--env", "Thrust/Pong-v0", "--out", "{new}", "--generations", HUGE],
        ["train", "--env", "Thrust/Pong-v0", "--out", "{new}", "--generations", "1",
         "--exploiters", HUGE],
    ],
)  # fmt: skip
def test_integers_beyond_sqlite_are_refused_in_one_line(run_dir, tmp_path, capsys, args):
    before = snapshot(run_dir)
    args = [a.format(run=run_dir, new=tmp_path / "new") for a in args]
    _user_error(args, capsys, "below 2**63")
    assert snapshot(run_dir) == before and not (tmp_path / "new").exists()


def test_default_env_factory_errors(tmp_path, capsys):
    base = ["tournament", "--players", "random,random2=random", "--games", "10"]
    _user_error([*base, "--env", "NoSuchGame-v9", "--out", str(tmp_path / "a")], capsys, "unknown")
    _user_error(
        [*base, "--env", "Thrust/CartPole-v1", "--out", str(tmp_path / "b")], capsys, "two-player"
    )
    assert list(tmp_path.iterdir()) == []


def test_errors_on_existing_runs_change_nothing(run_dir, tmp_path, capsys):
    before = snapshot(run_dir)
    cases = [
        (with_option(tournament(run_dir), "--env", "Toy/RPS-v0"), "plays Toy/Duel-v0"),
        (tournament(run_dir, "--k", "99"), "created with --k"),
        (tournament(run_dir, "--seed", "7"), "created with --seed"),
        (tournament(run_dir, players="level:0,level:2=level:3"), "already bot"),
        (["play", str(run_dir), "level:0", "ghost"], "no member named 'ghost'"),
        (["play", str(run_dir), "level:0", "level:0"], "different members"),
        (["show", str(run_dir), "ghost"], "no member named 'ghost'"),
        (["plot", str(run_dir), "-o", str(tmp_path / "no" / "dir.png")], "no such directory"),
        (["plot", str(run_dir), "-o", str(tmp_path / "plot.jpg")], "PNG"),
        (["ladder", str(run_dir), "--level", "1.5"], "confidence level"),
        (["play", str(run_dir), "level:0", "level:2", "--seat", "2"], "--seat"),
    ]
    for args, match in cases:
        _user_error(args, capsys, match)
    assert snapshot(run_dir) == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["ladder", "show", "plot", "play", "verify", "tournament"])
def test_missing_and_corrupt_run_directories(tmp_path, capsys, command):
    extra = {"show": ["level:0"], "play": ["level:0", "level:2"]}.get(command, [])

    def args_for(run: Path) -> list[str]:
        if command == "tournament":
            return tournament(run)
        return [command, str(run), *extra]

    if command != "tournament":  # a tournament creates a missing run
        _user_error(args_for(tmp_path / "missing"), capsys, "no run directory")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("x")
    _user_error(args_for(notes), capsys, "not a run directory")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / DB_NAME).write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    before = snapshot(tmp_path)
    _user_error(args_for(corrupt), capsys, "damaged or not a thrust-population run")
    assert snapshot(tmp_path) == before


def test_a_locked_database_is_a_user_error(run_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tournament(out, games="96")) == 0
    capsys.readouterr()
    holder = sqlite3.connect(out / DB_NAME, isolation_level=None, timeout=1.0)
    try:
        holder.execute("BEGIN IMMEDIATE")  # a writer in another process
        before = snapshot(out)
        lock = ["--lock-timeout", "0.05"]
        _user_error([*lock, *tournament(out, games="500")], capsys, "locked")
        _user_error([*lock, "play", str(out), "level:0", "level:2"], capsys, "locked")
        assert main([*lock, "ladder", str(out)]) == 0  # readers still read (WAL)
        capsys.readouterr()
        holder.execute("ROLLBACK")
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")  # a process that locks everyone out
        holder.execute("BEGIN EXCLUSIVE")
        _user_error([*lock, "ladder", str(out)], capsys, "locked")
        _user_error([*lock, "show", str(out), "level:0"], capsys, "locked")
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert {k: v for k, v in snapshot(out).items() if "-" not in k} == {
        k: v for k, v in before.items() if "-" not in k
    }
    with Store.open(out) as store:
        assert store.n_games() == 96


def test_usage_errors(capsys):
    _user_error([], capsys, "required")
    _user_error(["tournament"], capsys, "tournament: the following arguments are required")
    _user_error(["dance"], capsys, "invalid choice")


def test_importing_the_package_and_its_cli_stays_light():
    code = (
        "import sys, thrust_population, thrust_population.cli\n"
        "heavy = ('torch', 'stable_baselines3', 'matplotlib', 'tqdm', 'thrust_envs', 'numba')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)) or 'none')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_a_huge_rating_gap_plays_verifies_and_resumes(tmp_path, capsys):
    # an anchor 200,000 Elo above the others: 10 ** (gap / 400) overflows a float
    out = tmp_path / "run"
    pinned = ["--anchor", "level:4", "--anchor-rating", "200000"]
    assert main(tournament(out, *pinned, games="144")) == 0
    assert main(["verify", str(out)]) == 0
    assert main(tournament(out, *pinned, games="288")) == 0
    with Store.open(out, readonly=True) as store:
        assert store.n_games() == 288 and store.ratings()["level:4"] == 200000.0


WITHOUT_ALGOS = """
import runpy, sys

class WithoutAlgos:  # as an install without the algos extra: no torch, SB3 or sb3-contrib
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "stable_baselines3", "sb3_contrib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, WithoutAlgos())
sys.argv = ["thrust-population", *sys.argv[1:]]
runpy.run_module("thrust_population", run_name="__main__")
"""


def test_the_population_extra_alone_rates_n_player_games_and_names_what_else_to_install(
    tmp_path,
):
    """`.[population]` without `.[algos]` (README): an N-player tournament plays; a two-player
    one and training say, in one line with exit status 2, which extra they need, writing
    nothing."""

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_ALGOS, *args],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip

    snake = cli("tournament", "--env", "Thrust/Snake-v0", "--seats", "4", "--games", "8",
                "--players", "greedy,random,greedy2=greedy,random2=random", "--out", "snake",
                "--no-progress")  # fmt: skip
    assert snake.returncode == 0, snake.stderr
    assert "greedy2" in snake.stdout
    for args in (
        ("tournament", "--env", "Thrust/Pong-v0", "--players", "random,tracker", "--games", "4"),
        ("train", "--env", "Thrust/Pong-v0", "--generations", "1"),
    ):
        run = cli(*args, "--out", "pong")
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1, run.stderr
        assert "pip install 'thrust-rl[algos]'" in run.stderr, run.stderr
        assert not (tmp_path / "pong").exists()
