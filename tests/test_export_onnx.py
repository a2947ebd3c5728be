"""The ONNX export: valid graph, dynamic batch axis, named outputs, metadata, stable bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from export_helpers import SpaceEnv, get_case, randomize, sb3_reference
from export_helpers import one_torch_thread as one_torch_thread
from gymnasium import spaces
from stable_baselines3 import PPO

import thrust_export
from thrust_export.onnx_policy import ONNX_METADATA_KEY, seal_onnx
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
    # float32 and float64 spaces keep their dtype; any other takes float64 (SB3 converts it).
    space_dtype = np.dtype(model.observation_space.dtype)
    floats = (np.dtype(np.float32), np.dtype(np.float64))
    input_dtype = space_dtype if space_dtype in floats else np.dtype(np.float64)
    expected_dtype = onnx.helper.np_dtype_to_tensor_dtype(input_dtype)
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


def _uint8_model() -> PPO:
    """A non-image uint8 Box (3 values): SB3 converts its observations to float32."""
    env = SpaceEnv(spaces.Box(0, 10, (3,), np.uint8), spaces.Discrete(3))
    return randomize(PPO("MlpPolicy", env, device="cpu", seed=0), 0)


def test_integer_observations_are_converted_to_float_as_sb3_does(tmp_path: Path) -> None:
    """5.23 in a uint8 space is 5.23 to SB3 (and -1 is -1), not 5 (255): the graph takes float64,
    which holds whatever a caller passes exactly."""
    model = _uint8_model()
    policy = thrust_export.OnnxPolicy(thrust_export.export_onnx(model, tmp_path / "u8.onnx"))
    assert policy.input_dtype == np.float64
    obs = np.random.default_rng(0).uniform(-2, 12, (1000, 3))
    obs = np.concatenate([obs, [[-1, 0, 0], [300, 0, 0], [5.23, 0.5, 9.99]]])
    expected = model.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(policy.predict(obs)[0], expected)
    np.testing.assert_array_equal(thrust_export.to_numpy_policy(model).predict(obs)[0], expected)
    # The values exercise the difference: casting them to uint8 first changes actions.
    assert (model.predict(obs.astype(np.uint8), deterministic=True)[0] != expected).any()
    for row in obs[-3:]:
        assert policy.predict(row)[0] == model.predict(row, deterministic=True)[0]
    uint8_obs = sample_observations(model.observation_space, 64, seed=1)
    np.testing.assert_array_equal(
        policy.predict(uint8_obs)[0], model.predict(uint8_obs, deterministic=True)[0]
    )


def test_an_older_export_with_an_integer_input_is_refused_clearly(tmp_path: Path) -> None:
    """Older exports took the space's dtype (uint8) as input, which truncates observations: they
    are refused, with the reason and the remedy, rather than run differently from SB3."""
    model = _uint8_model()
    proto = onnx.load(thrust_export.export_onnx(model, tmp_path / "new.onnx"))
    # As the older exporter wrote it: a uint8 input (the graph's Cast to float accepts it),
    # the description entry, sealed again.
    proto.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.UINT8
    description = {p.key: p.value for p in proto.metadata_props}[ONNX_METADATA_KEY]
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, description
    old = tmp_path / "old.onnx"
    old.write_bytes(seal_onnx(proto.SerializeToString()))
    ort.InferenceSession(str(old), providers=["CPUExecutionProvider"])  # a valid model
    with pytest.raises(thrust_export.ArtifactError, match=r"tensor\(uint8\).*older thrust_export"):
        thrust_export.OnnxPolicy(old)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"session_options": "fast"}, "session_options"),
        ({"session_options": {"intra_op_num_threads": 1}}, "session_options"),
        ({"providers": "CPUExecutionProvider"}, "providers"),
        ({"providers": [1]}, "providers"),
        ({"providers": [("CPUExecutionProvider", "fast")]}, "providers"),
    ],
)
def test_onnx_policy_options_are_type_checked_first(
    options: dict, named: str, tmp_path: Path
) -> None:
    """A bad option is a TypeError naming it, not blamed on the file (checked before the file:
    a missing one still reports the option)."""
    model, _ = get_case("ppo-discrete")
    path = thrust_export.export_onnx(model, tmp_path / "p.onnx", verify=0)
    for source in (path, path.read_bytes(), tmp_path / "missing.onnx"):
        with pytest.raises(TypeError, match=f"^{named} must be"):
            thrust_export.OnnxPolicy(source, **options)
    # What is documented still works.
    good = ort.SessionOptions()
    good.intra_op_num_threads = 1
    policy = thrust_export.OnnxPolicy(path, ("CPUExecutionProvider",), good)
    thrust_export.OnnxPolicy(path, [("CPUExecutionProvider", {})])
    obs = sample_observations(model.observation_space, 8, seed=0)
    np.testing.assert_array_equal(policy.predict(obs)[0], model.predict(obs, deterministic=True)[0])
