"""Importing thrust_export and running exported policies needs neither torch nor SB3.

The policies run in a subprocess in which importing torch, stable_baselines3 or sb3_contrib raises
ImportError (a blocking import hook installed before anything else).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from export_helpers import get_case, subprocess_env
from export_helpers import one_torch_thread as one_torch_thread

import thrust_export
from thrust_export.parity import sample_observations

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = textwrap.dedent(
    """
    import sys
    BLOCKED = ("torch", "stable_baselines3", "sb3_contrib")

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    """
)

SCRIPT = BLOCKER + textwrap.dedent(
    """
    import json
    import numpy as np
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("torch was importable")

    import thrust_export
    args = json.loads(sys.argv[1])
    obs = np.load(args["obs"])
    results = {}
    for name, path in args["numpy"].items():
        policy = thrust_export.load(path)
        results[name] = {
            "batch": policy.predict(obs[name])[0].tolist(),
            "single": policy.predict(obs[name][0])[0].tolist(),
        }
        if policy.head_kind not in ("gsde", "squashed_gsde"):
            results[name]["sampled"] = list(policy.predict(obs[name], deterministic=False)[0].shape)
    for name, path in args["onnx"].items():
        onnx_policy = thrust_export.OnnxPolicy(path)
        results[name + ".onnx"] = {"batch": onnx_policy.predict(obs[name])[0].tolist()}
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"results": results, "leaked": leaked}))
    """
)

CASES = ("ppo-discrete", "ppo-box-gsde-squash", "dqn", "sac", "ppo-discrete-vecnormalize")


def test_policies_run_with_torch_blocked(tmp_path: Path) -> None:
    obs_arrays: dict[str, np.ndarray] = {}
    numpy_paths: dict[str, str] = {}
    onnx_paths: dict[str, str] = {}
    expected: dict[str, np.ndarray] = {}
    for case in CASES:
        model, vn = get_case(case)
        obs = sample_observations(model.observation_space, 16, seed=4)
        obs_arrays[case] = obs
        numpy_paths[case] = str(
            thrust_export.export_numpy(model, tmp_path / f"{case}.npz", vec_normalize=vn)
        )
        expected[case] = model.predict(vn.normalize_obs(obs) if vn else obs, deterministic=True)[0]
    model, _ = get_case("ppo-discrete")
    onnx_paths["ppo-discrete"] = str(thrust_export.export_onnx(model, tmp_path / "ppo.onnx"))
    obs_file = tmp_path / "obs.npz"
    np.savez(obs_file, **obs_arrays)  # type: ignore[arg-type]
    args = json.dumps({"obs": str(obs_file), "numpy": numpy_paths, "onnx": onnx_paths})
    env = subprocess_env(PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, args], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["leaked"] == []
    for case in CASES:
        got = report["results"][case]
        if np.issubdtype(expected[case].dtype, np.integer):
            assert got["batch"] == expected[case].tolist()
            assert got["single"] == expected[case][0].tolist()
        else:
            np.testing.assert_allclose(got["batch"], expected[case], atol=1e-5, rtol=0)
            np.testing.assert_allclose(got["single"], expected[case][0], atol=1e-5, rtol=0)
        if case != "ppo-box-gsde-squash":
            assert got["sampled"] == list(expected[case].shape)
    assert report["results"]["ppo-discrete.onnx"]["batch"] == expected["ppo-discrete"].tolist()


def test_plain_import_does_not_load_torch() -> None:
    code = (
        "import sys, thrust_export, thrust_export.numpy_policy, thrust_export.artifact;"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('torch', 'stable_baselines3', 'onnx')))"
    )
    env = subprocess_env(PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_export_functions_are_lazy_attributes() -> None:
    assert "export_numpy" in dir(thrust_export)
    from thrust_export import check_parity, export_numpy, export_onnx

    assert export_numpy.__module__ == "thrust_export.numpy_export"
    assert export_onnx.__module__ == "thrust_export.onnx_export"
    assert check_parity.__module__ == "thrust_export.parity"
    try:
        thrust_export.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("missing attribute did not raise")
