"""The thrust-export command line: through `python -m thrust_export` and through main()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from export_helpers import get_case, subprocess_env
from export_helpers import one_torch_thread as one_torch_thread

import thrust_export
from thrust_export.cli import main
from thrust_export.parity import ParityReport, sample_observations

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess_env(PYTHONPATH=path)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("cli")
    paths = {}
    for case in ("ppo-discrete", "sac-vecnormalize", "td3"):
        model, vn = get_case(case)
        paths[case] = directory / f"{case}.zip"
        model.save(paths[case])
        if vn is not None:
            paths[case + ".pkl"] = directory / f"{case}.pkl"
            vn.save(str(paths[case + ".pkl"]))
    return paths


def test_python_m_numpy_with_check(saved: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "policy.npz"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "thrust_export",
            str(saved["ppo-discrete"]),
            "--format",
            "numpy",
            "-o",
            str(out),
            "--check",
            "1500",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "parity on 1500 random observations: largest deviation" in result.stdout
    assert "action mismatches 0" in result.stdout and result.stdout.rstrip().endswith("-> OK")
    model, _ = get_case("ppo-discrete")
    obs = sample_observations(model.observation_space, 100, seed=9)
    np.testing.assert_array_equal(
        thrust_export.load(out).predict(obs)[0], model.predict(obs, deterministic=True)[0]
    )


def test_python_m_user_error_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "thrust_export",
            str(tmp_path / "missing.zip"),
            "--format",
            "onnx",
            "-o",
            str(tmp_path / "x.onnx"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no such file" in result.stderr
    assert result.stdout == ""


def test_main_onnx_with_vec_normalize(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sac.onnx"
    code = main(
        [
            str(saved["sac-vecnormalize"]),
            "--format",
            "onnx",
            "-o",
            str(out),
            "--vec-normalize",
            str(saved["sac-vecnormalize.pkl"]),
            "--check",
            "700",
            "--opset",
            "18",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "parity on 700 random observations" in captured.out and "-> OK" in captured.out
    policy = thrust_export.OnnxPolicy(out)
    assert policy.metadata["obs_normalization"]["folded_into_graph"] is True
    model, vn = get_case("sac-vecnormalize")
    assert vn is not None
    obs = sample_observations(model.observation_space, 64, seed=2)
    np.testing.assert_allclose(
        policy.predict(obs)[0],
        model.predict(vn.normalize_obs(obs), deterministic=True)[0],
        atol=1e-5,
        rtol=0,
    )


def test_main_algo_override_and_default_check(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "td3.npz"
    assert main([str(saved["td3"]), "--format", "numpy", "-o", str(out), "--algo", "td3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"wrote {out}") and "parity" not in captured.out
    assert thrust_export.load(out).algorithm == "TD3"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required"),
        (["m.zip", "-o", "x"], "--format"),
        (["m.zip", "--format", "tflite", "-o", "x"], "invalid choice: 'tflite'"),
        (["m.zip", "--format", "numpy"], "-o/--output"),
        (
            ["m.zip", "--format", "numpy", "-o", "x", "--check", "0"],
            "expected a positive integer, got 0",
        ),
        (
            ["m.zip", "--format", "numpy", "-o", "x", "--check", "many"],
            "expected a positive integer",
        ),
        (["m.zip", "--format", "numpy", "-o", "x", "--algo", "ddqn"], "invalid choice"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("thrust-export: error:") and message in err


def test_input_errors(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"garbage")
    cases = [
        (
            [str(not_zip), "--format", "numpy", "-o", str(tmp_path / "a.npz")],
            "not a Stable-Baselines3 model archive",
        ),
        (
            [
                str(saved["ppo-discrete"]),
                "--format",
                "numpy",
                "-o",
                str(tmp_path / "a.npz"),
                "--vec-normalize",
                str(tmp_path / "none.pkl"),
            ],
            "no such file",
        ),
        (
            [
                str(saved["ppo-discrete"]),
                "--format",
                "numpy",
                "-o",
                str(tmp_path / "a.npz"),
                "--vec-normalize",
                str(not_zip),
            ],
            "is not a VecNormalize .pkl",
        ),
        (
            [
                str(saved["ppo-discrete"]),
                "--format",
                "numpy",
                "-o",
                str(tmp_path / "a.npz"),
                "--vec-normalize",
                str(saved["sac-vecnormalize.pkl"]),
            ],
            "VecNormalize statistics have shape",
        ),
        (
            [
                str(saved["ppo-discrete"]),
                "--format",
                "onnx",
                "-o",
                str(tmp_path / "a.onnx"),
                "--opset",
                "9",
            ],
            "opset must be an integer from 13 to 20",
        ),
        (
            [
                str(saved["td3"]),
                "--format",
                "numpy",
                "-o",
                str(tmp_path / "a.npz"),
                "--algo",
                "SAC",
            ],
            "was saved by TD3, not SAC",
        ),
    ]
    cases.append(
        (
            [
                str(saved["td3"]),
                "--format",
                "numpy",
                "-o",
                str(tmp_path / "a.npz"),
                "--opset",
                "17",
            ],
            "--opset applies to --format onnx only",
        )
    )
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "a.npz").exists() and not (tmp_path / "a.onnx").exists()


def test_damaged_archives_are_one_line_and_exit_2(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from export_helpers import damaged_archives

    for damage, path in damaged_archives(saved["ppo-discrete"], tmp_path).items():
        for fmt, out in (("numpy", "a.npz"), ("onnx", "a.onnx")):
            assert main([str(path), "--format", fmt, "-o", str(tmp_path / out)]) == 2, damage
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "not a Stable-Baselines3 model archive" in err, err
        argv = [str(path), "--format", "web", "--env", "Thrust/CartPole-v1", "-o", "a.html"]
        assert main(argv) == 2
        assert "not a Stable-Baselines3 model archive" in capsys.readouterr().err
    assert not any(tmp_path.glob("a.*"))


def test_unsupported_model_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from export_helpers import SpaceEnv
    from gymnasium import spaces
    from sb3_contrib import QRDQN

    model = QRDQN(
        "MlpPolicy",
        SpaceEnv(spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(2)),
        buffer_size=64,
        device="cpu",
    )
    model.save(tmp_path / "qrdqn.zip")
    assert (
        main([str(tmp_path / "qrdqn.zip"), "--format", "numpy", "-o", str(tmp_path / "q.npz")]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unsupported model" in err


def test_failed_parity_exits_1(
    saved: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import thrust_export.parity

    def failing(*args: object, **kwargs: object) -> ParityReport:
        return ParityReport(
            n_observations=5,
            deviations={"action": 1.0},
            discrete=True,
            action_mismatches=3,
            within_tolerance=True,
        )

    monkeypatch.setattr(thrust_export.parity, "check_parity", failing)
    earlier = tmp_path / "p.npz"
    earlier.write_bytes(b"an earlier export")
    assert (
        main([str(saved["ppo-discrete"]), "--format", "numpy", "-o", str(earlier), "--check", "5"])
        == 1
    )
    captured = capsys.readouterr()
    assert "action mismatches 3" in captured.out and captured.out.rstrip().endswith("-> FAILED")
    assert "wrote" not in captured.out
    assert captured.err.count("\n") == 1 and "does not reproduce SB3" in captured.err
    # The file that failed its check is not left at -o, and the earlier file is untouched.
    assert earlier.read_bytes() == b"an earlier export"
    assert list(tmp_path.iterdir()) == [earlier]


def test_output_naming_an_input_is_refused(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o naming the model or the statistics (directly, through '..', a symbolic or a hard link)
    would overwrite an input: one line, exit status 2, the inputs untouched."""
    model = tmp_path / "mine.zip"
    model.write_bytes(saved["sac-vecnormalize"].read_bytes())
    stats = tmp_path / "stats.pkl"
    stats.write_bytes(saved["sac-vecnormalize.pkl"].read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.zip").symlink_to(model)
    os.link(stats, tmp_path / "hard.pkl")
    before = {p: p.read_bytes() for p in (model, stats)}
    outputs = [
        (model, "MODEL"),
        (tmp_path / "sub" / ".." / "mine.zip", "MODEL"),
        (tmp_path / "link.zip", "MODEL"),
        (stats, "--vec-normalize"),
        (tmp_path / "hard.pkl", "--vec-normalize"),
    ]
    for fmt in ("numpy", "onnx"):
        for output, what in outputs:
            argv = [str(model), "--format", fmt, "-o", str(output)]
            argv += ["--vec-normalize", str(stats)]
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"is the input {what} file" in err, err
    assert {p: p.read_bytes() for p in (model, stats)} == before


@pytest.mark.parametrize(
    ("output_format", "name"),
    [
        ("numpy", "x.onnx"),
        ("numpy", "x.html"),
        ("onnx", "x.npz"),
        ("onnx", "x.htm"),
        ("web", "x.npz"),
        ("web", "x.ONNX"),
    ],
)
def test_output_suffix_contradicting_the_format_is_refused(
    output_format: str,
    name: str,
    saved: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [str(saved["td3"]), "--format", output_format, "-o", str(tmp_path / name)]
    if output_format == "web":
        args += ["--env", "Thrust/Pendulum-v1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "contradicts --format" in err, err
    assert list(tmp_path.iterdir()) == []
