"""Every command in README.md runs (issue 19: "the README's every command runs from a fresh
[all] install in a test").

The README's code blocks are extracted, not copied. Long commands run in short-budget variants
listed openly in ``BASH`` and ``PYTHON`` below; a README command missing from those tables
fails ``test_every_readme_command_is_covered``, so the tables cannot drift from the README.

- default suite: the Python snippets run (quick substitutions) in a fresh interpreter;
- ``slow``: ``./dev.sh quickstart`` builds a fresh venv (no system site packages; torch
  ``2.13.0`` installed from the local package index, as dev.sh does), ``pip install -e
  ".[all]"`` goes into it, and every snippet and CLI command runs with that venv's Python and
  console scripts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

TRAIN_SHORT = (
    "--population 2 --generations 1 --steps-per-generation 512 --n-envs 8"
    ' --algo-kwargs \'{"n_steps": 64, "batch_size": 256}\' --opponents-per-generation 1'
    " --eval-games 8 --workers 1"
)
# README command (continuations joined, comment dropped) -> (short-budget commands, or None
# with the reason it is not run here). Run in order, in one scratch directory.
BASH: dict[str, tuple[list[str] | None, str]] = {
    "./dev.sh quickstart": (None, "run by test_fresh_install_runs_every_readme_command"),
    "./dev.sh test": (None, "this test suite itself (CI runs exactly this)"),
    "pip install -e .": (None, "the [all] install below contains it"),
    'pip install -e ".[algos]"': (None, "the [all] install below contains it"),
    'pip install -e ".[export]"': (None, "the [all] install below contains it"),
    'pip install -e ".[population]"': (None, "the [all] install below contains it"),
    'pip install -e ".[render]"': (None, "the [all] install below contains it"),
    'pip install -e ".[gpu]"': (None, "for a CUDA machine; dev brings its numba-cuda here"),
    'pip install -e ".[all,dev]"': (None, "the slow test installs [all] (dev: the suite's venv)"),
    "thrust-population tournament --env Thrust/Pong-v0 --players random,tracker:0.5,tracker:1.0"
    " --games 96 --out runs/ladder": (
        [
            "thrust-population tournament --env Thrust/Pong-v0"
            " --players random,tracker:0.5,tracker:1.0 --games 12 --out runs/ladder"
            " --env-kwargs '{\"points_to_win\": 1}'"
        ],
        "12 one-point games",
    ),
    "thrust-population ladder runs/ladder": (["thrust-population ladder runs/ladder"], "as is"),
    "thrust-population play runs/ladder tracker:1.0 random --games 100": (
        ["thrust-population play runs/ladder tracker:1.0 random --games 4"],
        "4 games",
    ),
    "thrust-population plot runs/ladder": (["thrust-population plot runs/ladder"], "as is"),
    "thrust-population show runs/ladder tracker:1.0": (
        ["thrust-population show runs/ladder tracker:1.0"],
        "as is",
    ),
    "thrust-population tournament --env Thrust/Snake-v0 --seats 4 --games 256 --out runs/snake"
    " --players greedy,random,greedy2=greedy,random2=random": (
        [
            "thrust-population tournament --env Thrust/Snake-v0 --seats 4 --games 16"
            " --out runs/snake --players greedy,random,greedy2=greedy,random2=random"
        ],
        "16 four-snake games",
    ),
    "thrust-population ladder runs/snake": (["thrust-population ladder runs/snake"], "as is"),
    "thrust-population train --env Thrust/Pong-v0 --population 4 --generations 10"
    " --steps-per-generation 65536 --matchmaking pfsp --out runs/pong --seed 0": (
        [
            "thrust-population train --env Thrust/Pong-v0 "
            + TRAIN_SHORT
            + " --matchmaking pfsp --out runs/pong --seed 0"
        ],
        "2 learners, 1 generation of 512 steps",
    ),
    "thrust-population train --env Thrust/Pong-v0 --population 2 --exploiters 1"
    " --exploiter-reset 0.7 --generations 10 --out runs/league": (
        [
            "thrust-population train --env Thrust/Pong-v0 "
            + TRAIN_SHORT
            + " --exploiters 1 --exploiter-reset 0.7 --out runs/league"
        ],
        "2 learners and an exploiter, 1 generation of 512 steps",
    ),
    "thrust-population train --env Thrust/Snake-v0 --seats 4 --learner-seats 2 --population 2"
    " --generations 4 --steps-per-generation 1048576 --n-envs 128 --out runs/snake-league"
    ' --algo-kwargs \'{"n_steps": 32, "batch_size": 8192, "policy_kwargs": {"activation_fn":'
    ' "relu"}}\'': (
        [
            "thrust-population train --env Thrust/Snake-v0 --seats 4 --learner-seats 2"
            " --population 2 --generations 1 --steps-per-generation 512 --n-envs 8"
            " --opponents-per-generation 2 --eval-games 6 --eval-n-envs 6 --workers 1"
            " --out runs/snake-league --env-kwargs '{\"max_steps\": 48}' --algo-kwargs"
            ' \'{"n_steps": 32, "batch_size": 256, "policy_kwargs": {"activation_fn": "relu"}}\''
        ],
        "2 learners, 1 generation of 512 steps, 48-step games",
    ),
    "thrust-population plot runs/snake-league": (
        ["thrust-population plot runs/snake-league"],
        "as is",
    ),
    "thrust-population resume runs/pong": (["thrust-population resume runs/pong"], "as is"),
    "thrust-population resume runs/pong --generations 20 --no-tensorboard --workers 2": (
        ["thrust-population resume runs/pong --generations 2 --no-tensorboard --workers 2"],
        "one more generation of 512 steps",
    ),
    "thrust-population export runs/pong L0-g9 --format numpy -o l0.npz": (
        ["thrust-population export runs/pong L0-g0 --format numpy -o l0.npz"],
        "the one generation's snapshot",
    ),
    "pip install rl_zoo3": (["python -m pip install --quiet rl_zoo3"], "into the fresh venv"),
    "python -m rl_zoo3.train --algo ppo --env Thrust/CartPole-v1 --gym-packages thrust_envs"
    " --conf-file thrust_envs/rl_zoo/ppo.yml": (
        [
            "python -m rl_zoo3.train --algo ppo --env Thrust/CartPole-v1 --gym-packages"
            f" thrust_envs --conf-file {REPO / 'thrust_envs/rl_zoo/ppo.yml'} -n 256"
            " --eval-freq -1 -f logs --hyperparams n_envs:2"
        ],
        "256 steps on 2 envs; the file's path from the clone; needs rl_zoo3 (the dev extra)",
    ),
    "thrust-export model.zip --format numpy -o policy.npz --check 1000": (
        [
            "python -c \"from stable_baselines3 import PPO; PPO('MlpPolicy', 'CartPole-v1',"
            " n_steps=64, batch_size=64, n_epochs=1).learn(64).save('model.zip')\"",
            "thrust-export model.zip --format numpy -o policy.npz --check 100",
        ],
        "a 64-step PPO saved first; 100 checked observations",
    ),
    "thrust-export policy.npz --format web --env Thrust/CartPole-v1 -o cartpole.html": (
        ["thrust-export policy.npz --format web --env Thrust/CartPole-v1 -o cartpole.html"],
        "as is (policy.npz from the command above)",
    ),
    "thrust-population export RUN L0-g10 --format web -o pong.html": (
        ["thrust-population export runs/pong L0-g0 --format web -o pong.html"],
        "a snapshot of the short league above",
    ),
    "xdg-open cartpole.html": (None, "opens a desktop browser (the browser test opens pages)"),
}
MODEL_PRELUDE = (
    "import gymnasium as gym\n"
    "from stable_baselines3 import PPO\n"
    "model = PPO('MlpPolicy', 'CartPole-v1', n_steps=64, batch_size=64, n_epochs=1).learn(64)\n"
    "obs, _ = gym.make('CartPole-v1').reset(seed=0)\n"
)
# A snippet's distinguishing line -> (prelude, substitutions, requirement or None).
PYTHON: dict[str, tuple[str, dict[str, str], str | None]] = {
    "from thrust_envs.cuda import make_vec": (
        "import torch\nactions = torch.zeros(65536, dtype=torch.int64, device='cuda')\n",
        {},
        "cuda",
    ),
    'gym.make_vec("Thrust/CartPole-v1", num_envs=65536, device="cuda")': (
        "import torch\nactions = torch.zeros(65536, dtype=torch.int64, device='cuda')\n",
        {},
        "cuda",
    ),
    'assert model.rollout_path == "device"': (
        "",
        {"model.learn(10_000_000)": "model.learn(2 * 32 * 65536)"},
        "cuda",
    ),
    'env = gym.make("Thrust/CartPole-v1")': ("", {".learn(20_000)": ".learn(512)"}, None),
    "env = pong_v0.parallel_env()": ("", {}, None),
    "from thrust_algos import PPO  # was": ("", {}, None),
    'thrust_export.export_numpy(model, "policy.npz")': (
        MODEL_PRELUDE + "masks = [True, False]  # CartPole's action 1 forbidden\n",
        {},
        None,
    ),
    "thrust_export.export_web(model": (MODEL_PRELUDE + "import thrust_export\n", {}, None),
}


def readme_blocks(language: str) -> list[str]:
    """The README's fenced ``language`` code blocks, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def readme_bash_commands() -> list[str]:
    """Each bash command: continuation lines joined, trailing comment and spacing dropped."""
    commands = []
    for block in readme_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            command = " ".join(line.split("#", 1)[0].split())
            if command:
                commands.append(command)
    return commands


def snippet_entry(snippet: str) -> tuple[str, dict[str, str], str | None]:
    matches = [key for key in PYTHON if key in snippet]
    assert len(matches) == 1, f"README snippet not covered by PYTHON:\n{snippet}"
    return PYTHON[matches[0]]


def runnable_snippet(snippet: str) -> str:
    prelude, substitutions, _ = snippet_entry(snippet)
    for long, short in substitutions.items():
        assert long in snippet, f"substitution {long!r} no longer in the README snippet"
        snippet = snippet.replace(long, short)
    return prelude + snippet


def cuda_available(python: str) -> bool:
    probe = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def run_python_snippets(python: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """Run every README Python snippet in one ``python`` process; return those skipped."""
    skipped, programs = [], []
    has_cuda = None
    for snippet in readme_blocks("python"):
        if snippet_entry(snippet)[2] == "cuda":
            has_cuda = cuda_available(python) if has_cuda is None else has_cuda
            if not has_cuda:
                skipped.append(snippet)
                continue
        programs.append(runnable_snippet(snippet))
    driver = "\n".join(
        f"exec(compile({program!r}, 'README snippet {k}', 'exec'), {{'__name__': '__main__'}})"
        for k, program in enumerate(programs)
    )
    done = subprocess.run(
        [python, "-c", driver], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return skipped


def suite_env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, MPLBACKEND="Agg")


def test_every_readme_command_is_covered():
    commands = readme_bash_commands()
    assert set(commands) == set(BASH), (
        f"README commands not in BASH: {sorted(set(commands) - set(BASH))}; "
        f"BASH entries no longer in the README: {sorted(set(BASH) - set(commands))}"
    )
    for snippet in readme_blocks("python"):
        runnable_snippet(snippet)  # each matches one entry, its substitutions still apply
    assert len(readme_blocks("python")) == len(PYTHON)


def test_readme_python_snippets_run(tmp_path):
    skipped = run_python_snippets(sys.executable, tmp_path, suite_env())
    # Only the CUDA snippets may be left out, and only without a CUDA device.
    assert all('device="cuda"' in snippet for snippet in skipped)


@pytest.mark.slow
def test_fresh_install_runs_every_readme_command(tmp_path):
    """``./dev.sh quickstart`` into a fresh venv, then ``[all]``, then every README command.

    Needs ``torch==2.13.0`` from the package index pip is configured with (a local file on the
    project's machines) and a ``python3`` without torch, so that the venv is fresh.
    """
    base = subprocess.run(["python3", "-c", "import torch"], capture_output=True)
    if base.returncode == 0:
        pytest.skip("python3 imports torch: dev.sh would reuse it (--system-site-packages)")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(THRUST_VENV=str(venv), MPLBACKEND="Agg", PYTHON="python3")
    quick = subprocess.run(
        ["./dev.sh", "quickstart"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    assert quick.returncode == 0, quick.stderr[-4000:]
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "--quiet", "-e", f"{REPO}[all]"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    site = subprocess.run(
        [python, "-c", "import sys; print(sys.flags.no_site, sys.prefix != sys.base_prefix)"],
        capture_output=True,
        text=True,
    )
    assert site.stdout.split() == ["0", "True"]

    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    work = tmp_path / "work"
    work.mkdir()
    run_python_snippets(python, work, env)
    for readme_command in readme_bash_commands():
        short, reason = BASH[readme_command]
        for command in short or []:
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            assert done.returncode == 0, f"{command} ({reason}):\n{done.stderr[-4000:]}"
    assert (work / "l0.npz").is_file() and (work / "policy.npz").is_file()
