"""The ONNX export's SHA-256 entry: corrupted or tampered files raise ArtifactError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_helpers import SpaceEnv, one_torch_thread, randomize
from gymnasium import spaces
from stable_baselines3 import PPO

import thrust_export
from thrust_export.onnx_policy import ONNX_METADATA_KEY, seal_onnx

pytestmark = pytest.mark.usefixtures("one_torch_thread")
_ = one_torch_thread


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[PPO, bytes]:
    model = randomize(
        PPO("MlpPolicy", SpaceEnv(spaces.Box(-1, 1, (5,)), spaces.Discrete(6)), device="cpu"), 7
    )
    path = thrust_export.export_onnx(model, tmp_path_factory.mktemp("onnx") / "p.onnx")
    return model, path.read_bytes()  # type: ignore[return-value]


def _largest_initializer_offset(data: bytes) -> int:
    proto = onnx.load_from_string(data)
    raw = max((t.raw_data for t in proto.graph.initializer), key=len)
    offset = data.find(raw)
    assert offset > 0
    return offset + len(raw) // 2


def test_untouched_export_loads_and_matches(exported: tuple[PPO, bytes], tmp_path: Path) -> None:
    model, data = exported
    path = tmp_path / "p.onnx"
    path.write_bytes(data)
    obs = np.random.default_rng(0).uniform(-1, 1, (2000, 5)).astype(np.float32)
    for policy in (thrust_export.OnnxPolicy(path), thrust_export.OnnxPolicy(data)):
        np.testing.assert_array_equal(
            policy.predict(obs)[0], model.predict(obs, deterministic=True)[0]
        )
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)


def test_flipped_initializer_byte_is_detected(exported: tuple[PPO, bytes], tmp_path: Path) -> None:
    _, data = exported
    corrupted = bytearray(data)
    corrupted[_largest_initializer_offset(data)] ^= 0x10
    path = tmp_path / "flipped.onnx"
    path.write_bytes(bytes(corrupted))
    with pytest.raises(thrust_export.ArtifactError, match="SHA-256 mismatch"):
        thrust_export.OnnxPolicy(path)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[:-10])
    with pytest.raises(thrust_export.ArtifactError, match=r"no thrust_export\.sha256 digest"):
        thrust_export.OnnxPolicy(truncated)


def _with_metadata(data: bytes, text: str) -> bytes:
    """The export with its description replaced by ``text`` and the digest recomputed."""
    proto = onnx.load_from_string(data)
    entries = [(p.key, p.value) for p in proto.metadata_props if p.key == ONNX_METADATA_KEY]
    del proto.metadata_props[:]
    for key, _ in entries:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, text
    return seal_onnx(proto.SerializeToString())


def test_tampered_metadata_raises_artifact_error(exported: tuple[PPO, bytes]) -> None:
    _, data = exported
    proto = onnx.load_from_string(data)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}[ONNX_METADATA_KEY])
    # Edited in place without the digest: the digest catches it.
    text = json.dumps(meta, sort_keys=True)
    edited = data.replace(text.encode(), text.replace('"shape": [5]', '"shape": [4]').encode())
    assert edited != data
    with pytest.raises(thrust_export.ArtifactError, match="SHA-256 mismatch"):
        thrust_export.OnnxPolicy(edited)
    # Re-digested bad metadata: the same error type, never JSONDecodeError/KeyError.
    missing_head = {k: v for k, v in meta.items() if k != "head"}
    for bad, message in [
        ("{not json", "is not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps(missing_head), "head.kind is missing"),
        (json.dumps({**meta, "observation_space": {}}), "observation_space.shape"),
        (json.dumps({**meta, "format_version": 99}), "unsupported ONNX policy format"),
    ]:
        with pytest.raises(thrust_export.ArtifactError, match=message):
            thrust_export.OnnxPolicy(_with_metadata(data, bad))
    with pytest.raises(thrust_export.ArtifactError, match="no metadata"):
        proto_without = onnx.load_from_string(data)
        del proto_without.metadata_props[:]
        thrust_export.OnnxPolicy(seal_onnx(proto_without.SerializeToString()))
