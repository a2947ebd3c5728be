"""The ONNX export: valid graph, dynamic batch axis, named outputs, metadata, stable bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from export_helpers import get_case, sb3_reference
from export_helpers import one_torch_thread as one_torch_thread

import thrust_export
from thrust_export.parity import sample_observations

EXPECTED_OUTPUTS = {
    "ppo-discrete": (
        ["action", "value", "logits"],
        [onnx.TensorProto.INT64, onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT],
    ),
    "ppo-multibinary": (["action", "value", "logits"], [onnx.TensorProto.FLOAT] * 3),
    "a2c-box-float64": (
        ["action", "value", "mean"],
        [onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT],
    ),
    "dqn": (["action", "q_values"], [onnx.TensorProto.INT64, onnx.TensorProto.FLOAT]),
    "sac": (["action", "mean", "log_std"], [onnx.TensorProto.FLOAT] * 3),
    "sac-gsde": (["action", "mean"], [onnx.TensorProto.FLOAT] * 2),
    "td3": (["action"], [onnx.TensorProto.FLOAT]),
}


@pytest.mark.parametrize("case", list(EXPECTED_OUTPUTS))
def test_graph_interface(case: str, tmp_path: Path) -> None:
    model, _ = get_case(case)
    path = thrust_export.export_onnx(model, tmp_path / "p.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    (graph_input,) = proto.graph.input
    assert graph_input.name == "obs"
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == list(model.observation_space.shape)
    expected_dtype = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(model.observation_space.dtype))
    assert graph_input.type.tensor_type.elem_type == expected_dtype
    names, types = EXPECTED_OUTPUTS[case]
    assert [o.name for o in proto.graph.output] == names
    assert [o.type.tensor_type.elem_type for o in proto.graph.output] == types
    for output in proto.graph.output:
        assert output.type.tensor_type.shape.dim[0].dim_param == "batch"
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["thrust_export"])
    assert meta["format"] == "thrust-export/onnx-policy" and meta["format_version"] == 1
    assert meta["outputs"] == names and meta["input"] == "obs"
    assert meta["observation_space"]["shape"] == list(model.observation_space.shape)
    assert proto.opset_import[0].version == 17


def test_plain_onnxruntime_any_batch_size(tmp_path: Path) -> None:
    """The file is self-contained: a bare InferenceSession reproduces SB3 at any batch size."""
    model, _ = get_case("ppo-multidiscrete")
    path = thrust_export.export_onnx(model, tmp_path / "p.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 1024):
        obs = sample_observations(model.observation_space, batch, seed=batch)
        action, value, logits = session.run(None, {"obs": obs})
        ref = sb3_reference(model, obs, None)
        np.testing.assert_array_equal(action, ref["action"])
        np.testing.assert_allclose(value, ref["value"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(logits, ref["logits"], atol=1e-5, rtol=0)


def test_export_is_deterministic(tmp_path: Path) -> None:
    model, vn = get_case("ppo-discrete-vecnormalize")
    a = thrust_export.export_onnx(model, tmp_path / "a.onnx", vec_normalize=vn).read_bytes()
    b = thrust_export.export_onnx(model, tmp_path / "b.onnx", vec_normalize=vn).read_bytes()
    assert a == b


@pytest.mark.parametrize("opset", [13, 20])
def test_other_opsets(opset: int, tmp_path: Path) -> None:
    model, _ = get_case("ppo-box-gsde-squash")
    path = thrust_export.export_onnx(model, tmp_path / "p.onnx", opset=opset)
    assert onnx.load(path).opset_import[0].version == opset
    report = thrust_export.check_parity(model, path, n=1024)
    assert report.passed, report.summary()


def test_export_does_not_modify_the_model(tmp_path: Path) -> None:
    model, _ = get_case("sac")
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    thrust_export.export_onnx(model, tmp_path / "p.onnx")
    thrust_export.export_numpy(model, tmp_path / "p.npz")
    after = model.policy.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert (before[key] == after[key]).all()


def test_onnx_policy_refuses_foreign_models(tmp_path: Path) -> None:
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 2])],
    )
    path = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    with pytest.raises(ValueError, match="not a thrust_export ONNX policy"):
        thrust_export.OnnxPolicy(path)
