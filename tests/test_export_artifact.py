"""Security and bad input: the numpy artifact never unpickles and rejects anything malformed."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_helpers import get_case
from export_helpers import one_torch_thread as one_torch_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import thrust_export
from thrust_export.artifact import (
    DIGEST_KEY,
    FORMAT_VERSION,
    METADATA_KEY,
    ArtifactError,
    read_artifact,
    write_artifact,
)
from thrust_export.parity import sample_observations
from thrust_export.sb3 import extract


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    model, _ = get_case("ppo-multidiscrete")
    metadata, arrays = extract(model)
    path = write_artifact(tmp_path_factory.mktemp("artifact") / "policy.npz", metadata, arrays)
    return path, metadata, arrays


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_members(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


class _Marker:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_round_trip_and_metadata_content(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]],
) -> None:
    path, metadata, arrays = exported
    meta, loaded = read_artifact(path)
    assert meta == json.loads(json.dumps(metadata))
    assert loaded.keys() == arrays.keys()
    for key in arrays:
        np.testing.assert_array_equal(loaded[key], arrays[key])
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["algorithm"] == "PPO"
    assert meta["policy_class"] == "stable_baselines3.common.policies.ActorCriticPolicy"
    assert meta["action_space"] == {"type": "MultiDiscrete", "nvec": [3, 4, 2], "start": [0, 0, 0]}
    assert meta["observation_space"]["shape"] == [2, 3]
    layers = meta["networks"]["policy"]["layers"]
    assert [layer["op"] for layer in layers] == [
        "linear",
        "leaky_relu",
        "linear",
        "leaky_relu",
        "linear",
    ]
    assert [layer["out_features"] for layer in layers if layer["op"] == "linear"] == [16, 16, 9]
    assert meta["outputs"] == ["action", "value", "logits"]


def test_plain_numpy_can_read_it_without_pickle(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]],
) -> None:
    path, _, arrays = exported
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {*arrays, METADATA_KEY, DIGEST_KEY}
        meta = json.loads(npz[METADATA_KEY].tobytes())
    assert meta["format"] == "thrust-export/numpy-policy"


def test_loading_never_unpickles(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = exported

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle used while loading an artifact")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    real_load = np.load

    def checked_load(*args: Any, **kwargs: Any) -> Any:
        assert kwargs.get("allow_pickle") is False
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", checked_load)
    policy = thrust_export.load(path)
    assert policy.predict(np.zeros((2, 3), np.float32))[0].shape == (3,)


def test_pickled_member_is_refused_without_running_it(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, _, _ = exported
    marker = tmp_path / "unpickled"
    members = _members(path)
    members["policy.0.weight.npy"] = _npy(
        np.array([_Marker(marker)], dtype=object), allow_pickle=True
    )
    evil = tmp_path / "evil.npz"
    _write_members(evil, members)
    with pytest.raises(ArtifactError, match="truncated or corrupt"):
        thrust_export.load(evil)
    assert not marker.exists()


def test_a_pickle_file_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    evil = tmp_path / "evil.npz"
    evil.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ArtifactError, match=r"expected an \.npz"):
        thrust_export.load(evil)
    assert not marker.exists()


def test_compressed_member_is_refused(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, _, _ = exported
    members = _members(path)
    packed = tmp_path / "packed.npz"
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ArtifactError, match="is compressed"):
        thrust_export.load(packed)


def test_non_array_member_is_refused(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, _, _ = exported
    members = _members(path)
    members["notes.txt"] = b"hello"
    odd = tmp_path / "odd.npz"
    _write_members(odd, members)
    with pytest.raises(ArtifactError, match=r"not a \.npy array"):
        thrust_export.load(odd)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_artifact(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path, keep: float
) -> None:
    path, _, _ = exported
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ArtifactError):
        thrust_export.load(cut)


def test_tampered_weights_are_detected(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, _, _ = exported
    members = _members(path)
    weight = np.load(io.BytesIO(members["policy.latent.0.weight.npy"]))
    weight[0, 0] += 0.5
    members["policy.latent.0.weight.npy"] = _npy(weight)
    tampered = tmp_path / "tampered.npz"
    _write_members(tampered, members)
    with pytest.raises(ArtifactError, match="SHA-256 mismatch"):
        thrust_export.load(tampered)


def test_tampered_metadata_is_detected(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, metadata, _ = exported
    members = _members(path)
    changed = json.loads(json.dumps(metadata))
    changed["networks"]["policy"]["layers"][1] = {"op": "relu"}
    members[METADATA_KEY + ".npy"] = _npy(np.frombuffer(json.dumps(changed).encode(), np.uint8))
    tampered = tmp_path / "tampered.npz"
    _write_members(tampered, members)
    with pytest.raises(ArtifactError, match="SHA-256 mismatch"):
        thrust_export.load(tampered)


def test_removed_member_is_detected(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, _, _ = exported
    members = _members(path)
    del members["value.value_net.0.bias.npy"]
    partial = tmp_path / "partial.npz"
    _write_members(partial, members)
    with pytest.raises(ArtifactError, match="SHA-256 mismatch"):
        thrust_export.load(partial)
    del members[DIGEST_KEY + ".npy"]
    _write_members(partial, members)
    with pytest.raises(ArtifactError, match="missing member"):
        thrust_export.load(partial)


@pytest.mark.parametrize("version", [0, 2, "1", None, True])
def test_unknown_format_version(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path, version: Any
) -> None:
    _, metadata, arrays = exported
    future = dict(metadata, format_version=version)
    path = write_artifact(tmp_path / "future.npz", future, arrays)  # digest recomputed: valid file
    with pytest.raises(ArtifactError, match="unsupported format version"):
        thrust_export.load(path)


def test_other_format_name(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    _, metadata, arrays = exported
    path = write_artifact(tmp_path / "other.npz", dict(metadata, format="something-else"), arrays)
    with pytest.raises(ArtifactError, match="not a thrust_export numpy policy"):
        thrust_export.load(path)


def _mutated(metadata: dict[str, Any], edit: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(metadata))
    edit(copy)
    return copy


def _set_layer(copy: dict[str, Any], index: int, key: str, value: Any) -> None:
    copy["networks"]["policy"]["layers"][index][key] = value


WRONG_METADATA = {
    "in_features mismatch": (
        lambda m: _set_layer(m, 2, "in_features", 15),
        "does not match the previous size",
    ),
    "weight shape": (lambda m: _set_layer(m, 0, "out_features", 17), "has shape"),
    "unknown op": (lambda m: _set_layer(m, 1, "op", "swish"), "unknown op"),
    "missing array": (lambda m: _set_layer(m, 0, "weight", "nope"), "does not contain"),
    "bad activation parameter": (
        lambda m: _set_layer(m, 1, "negative_slope", "x"),
        "finite number",
    ),
    "head misfit": (lambda m: m["head"].update(kind="bernoulli"), "does not fit"),
    "logit count": (
        lambda m: m["action_space"].update(nvec=[3, 4, 3], start=[0, 0, 0]),
        "outputs 9 values, expected 10",
    ),
    "observation shape": (lambda m: m["observation_space"].update(shape=[3, 2, 1]), "has shape"),
    "dict observation": (lambda m: m["observation_space"].update(type="Dict"), "must be 'Box'"),
    "network cycle": (
        lambda m: (
            m["networks"]["policy"].update(input="value")
            or m["networks"]["value"].update(input="policy")
        ),
        "cycle",
    ),
    "unknown input": (
        lambda m: m["networks"]["policy"].update(input="elsewhere"),
        "neither 'features'",
    ),
    "outputs": (lambda m: m.update(outputs=["action"]), "do not match"),
    "missing key": (lambda m: m.pop("head"), "missing 'head'"),
    "value width": (
        lambda m: _set_layer(m, 4, "out_features", 1) or m.update(value_network="policy"),
        "has shape",
    ),
}


@pytest.mark.parametrize("case", list(WRONG_METADATA))
def test_inconsistent_metadata_is_a_clear_error(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path, case: str
) -> None:
    _, metadata, arrays = exported
    edit, message = WRONG_METADATA[case]
    path = write_artifact(tmp_path / "bad.npz", _mutated(metadata, edit), arrays)
    with pytest.raises(ArtifactError, match=message):
        thrust_export.load(path)


def test_weight_of_wrong_dtype_is_refused(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], tmp_path: Path
) -> None:
    _, metadata, arrays = exported
    wrong = dict(arrays)
    wrong["policy.latent.0.weight"] = arrays["policy.latent.0.weight"].astype(np.float64)
    path = write_artifact(tmp_path / "f64.npz", metadata, wrong)
    with pytest.raises(ArtifactError, match="dtype"):
        thrust_export.load(path)


def test_missing_file_and_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such artifact"):
        thrust_export.load(tmp_path / "absent.npz")
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"\x08\x07\x12\x07pytorch")
    with pytest.raises(ArtifactError, match=r"expected an \.npz"):
        thrust_export.load(fake)


@pytest.mark.parametrize(
    ("obs", "error", "message"),
    [
        (np.zeros((3, 2), np.float32), ValueError, "Unexpected observation shape"),
        (np.zeros((5, 3, 2), np.float32), ValueError, "Unexpected observation shape"),
        (np.zeros(6, np.float32), ValueError, "Unexpected observation shape"),
        (np.zeros((2, 3), dtype="U3"), TypeError, "not numeric"),
        (np.zeros((2, 3), dtype=object), TypeError, "not numeric"),
        (np.zeros((2, 3), dtype=np.complex64), TypeError, "not numeric"),
        ("abc", TypeError, "not numeric"),
    ],
)
def test_bad_observations(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]],
    obs: Any,
    error: type,
    message: str,
) -> None:
    policy = thrust_export.load(exported[0])
    with pytest.raises(error, match=message):
        policy.predict(obs)
    with pytest.raises(error, match=message):
        policy.forward(obs)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.floats(0.0, 1.0, exclude_max=True), xor=st.integers(1, 255))
def test_any_flipped_byte_is_detected_or_harmless(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]],
    tmp_path: Path,
    position: float,
    xor: int,
) -> None:
    """Changing any byte either raises ArtifactError or leaves the policy's behaviour unchanged
    (bytes such as zip timestamps do not carry the policy)."""
    path, _, _ = exported
    data = bytearray(path.read_bytes())
    index = int(position * len(data))
    data[index] ^= xor
    flipped = tmp_path / "flipped.npz"
    flipped.write_bytes(bytes(data))
    obs = sample_observations(get_case("ppo-multidiscrete")[0].observation_space, 32, seed=1)
    try:
        policy = thrust_export.load(flipped)
    except ArtifactError:
        return
    reference = thrust_export.load(path)
    got, ref = policy.forward(obs), reference.forward(obs)
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key])


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(-1, 5), max_size=3),
    st.just({}),
)


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _leaves(value, (*path, key))] or [path]
    if isinstance(node, list) and node:
        return [p for i, value in enumerate(node) for p in _leaves(value, (*path, i))]
    return [path]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_metadata_edit_is_valid_or_a_clear_error(
    exported: tuple[Path, dict[str, Any], dict[str, np.ndarray]], data: st.DataObject
) -> None:
    """Rewriting any metadata value (even with a recomputed digest) loads or raises ArtifactError:
    never a KeyError, TypeError or IndexError from deep inside. A policy that loads predicts, or
    refuses as SB3's predict does where its network overflows float32 (a huge activation
    parameter): the ValueError of NaN distribution parameters."""
    _, metadata, arrays = exported
    copy = json.loads(json.dumps(metadata))
    leaf = data.draw(st.sampled_from(_leaves(copy)))
    value = data.draw(_JSON_VALUES)
    node = copy
    for key in leaf[:-1]:
        node = node[key]
    node[leaf[-1]] = value
    try:
        policy = thrust_export.NumpyPolicy(copy, arrays)
    except ArtifactError:
        return
    try:
        policy.predict(np.zeros((4, 2, 3), np.float32))
    except ValueError as error:
        assert "overflowing float32 in the network" in str(error), error


@pytest.mark.parametrize("case", ["ppo-multidiscrete", "ppo-box", "sac"])
def test_in_memory_policy_equals_the_file(case: str, tmp_path: Path) -> None:
    """``to_numpy_policy`` builds the policy ``export_numpy`` writes, without the file."""
    model, _ = get_case(case)
    in_memory = thrust_export.to_numpy_policy(model)
    from_file = thrust_export.load(thrust_export.export_numpy(model, tmp_path / "p.npz"))
    obs = sample_observations(model.observation_space, 257, seed=1)
    np.testing.assert_array_equal(in_memory.predict(obs)[0], from_file.predict(obs)[0])
    expected = model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(in_memory.predict(obs)[0], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="SB3 model"):
        thrust_export.to_numpy_policy(object())
    with pytest.raises(FileNotFoundError, match="no such model"):
        thrust_export.to_numpy_policy(tmp_path / "missing.zip")


# -- writing: one mechanism for every format (a temporary file, checked, then replaced) ----------


def _interrupted_write(f: Any) -> None:
    f.write(b"half of an export")
    raise OSError(28, "No space left on device")


def _refusing_check(path: Path) -> None:
    assert path.read_bytes() == b"new export" and path.name.endswith(".tmp")
    raise RuntimeError("the export does not reproduce SB3")


@pytest.mark.parametrize(
    ("write", "check", "error"),
    [
        (_interrupted_write, None, OSError),
        (lambda f: f.write(b"new export"), _refusing_check, RuntimeError),
    ],
    ids=["write-fails", "check-refuses"],
)
def test_a_failed_write_or_check_leaves_the_earlier_file(
    write: Any, check: Any, error: type[Exception], tmp_path: Path
) -> None:
    from thrust_export.artifact import write_file

    earlier = tmp_path / "policy.npz"
    earlier.write_bytes(b"earlier export")
    with pytest.raises(error):
        write_file(earlier, write, check)
    assert earlier.read_bytes() == b"earlier export"
    assert list(tmp_path.iterdir()) == [earlier]  # no temporary file left
    # Into a folder that does not exist yet: created, and removed again on failure.
    nested = tmp_path / "new" / "deeper" / "policy.npz"
    with pytest.raises(error):
        write_file(nested, write, check)
    assert list(tmp_path.iterdir()) == [earlier]


def test_write_file_replaces_only_a_checked_file(tmp_path: Path) -> None:
    from thrust_export.artifact import write_file

    seen: list[bytes] = []
    out = tmp_path / "sub" / "page.html"
    assert write_file(out, lambda f: f.write(b"new export"), lambda p: seen.append(p.read_bytes()))
    assert seen == [b"new export"] and out.read_bytes() == b"new export"
    assert list(out.parent.iterdir()) == [out]
    with pytest.raises(IsADirectoryError, match="is a directory"):
        write_file(tmp_path / "sub", lambda f: f.write(b"x"))
    assert list(out.parent.iterdir()) == [out]


def _cartpole_policy() -> thrust_export.NumpyPolicy:
    """A policy that fits Thrust/CartPole-v1 (4 observations, 2 actions)."""
    from export_helpers import SpaceEnv
    from gymnasium import spaces
    from stable_baselines3 import PPO

    env = SpaceEnv(spaces.Box(-np.inf, np.inf, (4,), np.float32), spaces.Discrete(2))
    return thrust_export.to_numpy_policy(PPO("MlpPolicy", env, device="cpu", seed=0))


@pytest.mark.parametrize(
    ("fmt", "failure"),
    [
        ("numpy", "verification"),
        ("onnx", "verification"),
        ("numpy", "replace"),
        ("onnx", "replace"),
        ("web", "replace"),  # a page has no parity verification
    ],
)
def test_every_format_keeps_the_earlier_file_on_failure(
    fmt: str, failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed verification (numpy, onnx) or a failure at the last step (all three formats)
    leaves the file already at the output path untouched, and no temporary file."""
    import os

    import thrust_export.parity
    from thrust_export.parity import ParityReport

    model, _ = get_case("ppo-discrete")
    out = tmp_path / {"numpy": "p.npz", "onnx": "p.onnx", "web": "p.html"}[fmt]
    out.write_bytes(b"earlier export")
    if failure == "verification":
        failed = ParityReport(
            n_observations=4,
            deviations={"action": 1.0},
            discrete=True,
            action_mismatches=2,
            within_tolerance=True,
        )
        monkeypatch.setattr(thrust_export.parity, "check_parity", lambda *a, **k: failed)
        expected: type[Exception] = RuntimeError
    else:

        def no_space(*args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", no_space)
        expected = OSError
    with pytest.raises(expected):
        if fmt == "numpy":
            thrust_export.export_numpy(model, out, verify=4)
        elif fmt == "onnx":
            thrust_export.export_onnx(model, out, verify=4)
        else:
            thrust_export.export_web(_cartpole_policy(), out, "Thrust/CartPole-v1")
    assert out.read_bytes() == b"earlier export"
    assert list(tmp_path.iterdir()) == [out]


def test_every_exporter_refuses_to_overwrite_its_own_input(tmp_path: Path) -> None:
    """The Python API as the CLI: writing the export over the model's .zip (or the .npz a
    page is made from) would destroy it; refused before anything is read, the file intact."""
    import thrust_export

    model, _ = get_case("ppo-discrete")
    zipped = tmp_path / "model.zip"
    model.save(zipped)
    artifact = thrust_export.export_numpy(model, tmp_path / "policy.npz", verify=0)
    before = {p: p.read_bytes() for p in (zipped, artifact)}
    around = tmp_path / "x" / ".." / "model.zip"
    calls = (
        (lambda: thrust_export.export_numpy(zipped, zipped), "out_path"),
        (lambda: thrust_export.export_onnx(zipped, around), "out_path"),
        (lambda: thrust_export.export_web(artifact, artifact, "Thrust/CartPole-v1"), "path"),
    )
    for call, name in calls:
        with pytest.raises(ValueError, match=rf"{name} .* is the input .* file .*overwrite it"):
            call()
    assert {p: p.read_bytes() for p in (zipped, artifact)} == before
