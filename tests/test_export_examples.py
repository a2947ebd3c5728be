"""The CartPole example and the benchmark script run end to end (no timing assertions)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from export_helpers import one_torch_thread as one_torch_thread

ROOT = Path(__file__).resolve().parents[1]


def _load(relative: str) -> ModuleType:
    path = ROOT / relative
    sys.path.insert(0, str(path.parent))  # benchmarks import benchmarks/common.py
    spec = importlib.util.spec_from_file_location(f"_thrust_export_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick_run(capsys: pytest.CaptureFixture[str]) -> None:
    benchmark = _load("benchmarks/export.py")
    assert benchmark.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for row in (
        "| SB3 model.predict |",
        "| NumpyPolicy.predict |",
        "| onnxruntime session.run |",
        "| numpy .npz |",
        "| ONNX .onnx |",
    ):
        assert row in out
    assert "Target: NumpyPolicy 1-obs predict <= 15 us: measured" in out
    assert "torch threads 1" in out


def test_example_short_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = _load("examples/export_cartpole.py")
    assert example.main(["--timesteps", "512", "--episodes", "2", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "torch-free runs reproduce SB3's episodes exactly: True" in out
    assert {p.name for p in tmp_path.iterdir()} == {
        "ppo_cartpole.zip",
        "ppo_cartpole.npz",
        "ppo_cartpole.onnx",
    }


@pytest.mark.slow
def test_example_default_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = _load("examples/export_cartpole.py")
    assert example.main(["--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "torch-free runs reproduce SB3's episodes exactly: True" in out
