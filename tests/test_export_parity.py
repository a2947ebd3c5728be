"""NumpyPolicy and the ONNX export reproduce SB3's predict for every supported algorithm and space.

For each case, 2048 + 140 + 30 random observations from the observation space are compared in
batches of 1024, 7 and 1: discrete actions exactly, continuous actions and every other output
(value, logits, mean, log_std, q_values) within 1e-5; action dtypes and shapes equal SB3's.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from export_helpers import CASES, assert_outputs_match, get_case, sb3_reference
from export_helpers import one_torch_thread as one_torch_thread

import thrust_export
from thrust_export.parity import sample_observations

BATCHES = ((1024, 2), (7, 20))
N_SINGLE = 30


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


def _exported(
    case: str, fmt: str, export_dir: Path
) -> thrust_export.NumpyPolicy | thrust_export.OnnxPolicy:
    model, vn = get_case(case)
    if fmt == "numpy":
        path = thrust_export.export_numpy(model, export_dir / f"{case}.npz", vec_normalize=vn)
        return thrust_export.load(path)
    path = thrust_export.export_onnx(model, export_dir / f"{case}.onnx", vec_normalize=vn)
    return thrust_export.OnnxPolicy(path)


@pytest.mark.parametrize("fmt", ["numpy", "onnx"])
@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_sb3(case: str, fmt: str, export_dir: Path) -> None:
    model, vn = get_case(case)
    discrete = CASES[case].discrete
    policy = _exported(case, fmt, export_dir)
    n_total = sum(size * count for size, count in BATCHES) + N_SINGLE
    observations = sample_observations(
        model.observation_space, n_total, seed=zlib.crc32(case.encode())
    )
    start = 0
    for size, count in BATCHES:
        for _ in range(count):
            obs = observations[start : start + size]
            start += size
            ref = sb3_reference(model, obs, vn)
            got = policy.forward(obs)
            assert_outputs_match(got, ref, discrete)
            actions, state = policy.predict(obs)
            assert state is None
            assert_outputs_match({"action": actions}, {"action": ref["action"]}, discrete)
    for obs in observations[start:]:
        sb3_obs = vn.normalize_obs(obs) if vn is not None else obs
        expected, _ = model.predict(sb3_obs, deterministic=True)
        actions, _ = policy.predict(obs, deterministic=True)
        assert actions.shape == expected.shape and actions.dtype == expected.dtype
        if discrete:
            np.testing.assert_array_equal(actions, expected)
        else:
            np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", ["ppo-discrete", "ppo-box-gsde-squash", "dqn", "sac", "td3"])
def test_model_loaded_from_zip(case: str, tmp_path: Path) -> None:
    """Exporting from the saved .zip (algorithm detected from it) equals exporting the object."""
    model, _ = get_case(case)
    zip_path = tmp_path / "model.zip"
    model.save(zip_path)
    from_zip = thrust_export.load(thrust_export.export_numpy(zip_path, tmp_path / "zip.npz"))
    from_object = thrust_export.load(thrust_export.export_numpy(model, tmp_path / "obj.npz"))
    assert from_zip.algorithm == from_object.algorithm == case.split("-")[0].upper()
    obs = sample_observations(model.observation_space, 64, seed=0)
    a = from_zip.forward(obs)
    b = from_object.forward(obs)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_ppo_and_a2c_zips_are_told_apart(tmp_path: Path) -> None:
    from thrust_export.sb3 import detect_algorithm

    for case, algo in [
        ("ppo-discrete", "PPO"),
        ("a2c-discrete", "A2C"),
        ("sac", "SAC"),
        ("dqn", "DQN"),
    ]:
        model, _ = get_case(case)
        path = tmp_path / f"{case}.zip"
        model.save(path)
        assert detect_algorithm(path) == algo


def test_vecnormalize_from_pkl_and_raw_observations(tmp_path: Path) -> None:
    """Statistics given as a .pkl path are folded in: the export takes *raw* observations."""
    model, vn = get_case("ppo-discrete-vecnormalize")
    assert vn is not None
    pkl = tmp_path / "vecnormalize.pkl"
    vn.save(str(pkl))
    policy = thrust_export.load(
        thrust_export.export_numpy(model, tmp_path / "p.npz", vec_normalize=pkl)
    )
    meta = policy.metadata["obs_normalization"]
    assert meta["clip_obs"] == vn.clip_obs and meta["epsilon"] == vn.epsilon
    obs = sample_observations(model.observation_space, 512, seed=3)
    expected = model.predict(vn.normalize_obs(obs), deterministic=True)[0]
    np.testing.assert_array_equal(policy.predict(obs)[0], expected)
    # Without the statistics the same network gives other actions on raw observations: the
    # normalisation is really part of the export.
    plain = thrust_export.load(thrust_export.export_numpy(model, tmp_path / "plain.npz"))
    assert np.any(plain.predict(obs)[0] != expected)


def test_vecnormalize_shape_mismatch_is_rejected(tmp_path: Path) -> None:
    model, _ = get_case("ppo-discrete")  # 6-dim observations
    _, vn = get_case("ppo-discrete-vecnormalize")  # 4-dim statistics
    with pytest.raises(ValueError, match="VecNormalize statistics have shape"):
        thrust_export.export_numpy(model, tmp_path / "x.npz", vec_normalize=vn)
    assert not (tmp_path / "x.npz").exists()


def test_predict_accepts_lists_and_other_dtypes_like_sb3() -> None:
    model, _ = get_case("ppo-discrete")
    policy = thrust_export.NumpyPolicy(*_extract(model))
    obs = sample_observations(model.observation_space, 16, seed=5)
    expected = model.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(policy.predict(obs.tolist())[0], expected)
    np.testing.assert_array_equal(
        policy.predict(obs.astype(np.float64))[0],
        model.predict(obs.astype(np.float64), deterministic=True)[0],
    )
    ints = np.round(obs).astype(np.int32)
    np.testing.assert_array_equal(
        policy.predict(ints)[0], model.predict(ints, deterministic=True)[0]
    )
    state = (np.zeros(3),)
    assert policy.predict(obs[0], state=state)[1] is state  # passed through, as SB3 does


def test_predict_values_and_q_values() -> None:
    model, _ = get_case("a2c-discrete")
    policy = thrust_export.NumpyPolicy(*_extract(model))
    obs = sample_observations(model.observation_space, 33, seed=6)
    ref = sb3_reference(model, obs, None)
    np.testing.assert_allclose(policy.predict_values(obs), ref["value"], atol=1e-5, rtol=0)
    single = policy.predict_values(obs[0])
    assert single.shape == ()
    np.testing.assert_allclose(single, ref["value"][0], atol=1e-5, rtol=0)
    dqn_model, _ = get_case("dqn")
    dqn = thrust_export.NumpyPolicy(*_extract(dqn_model))
    assert not dqn.has_value
    with pytest.raises(NotImplementedError, match="no value network"):
        dqn.predict_values(sample_observations(dqn_model.observation_space, 2, seed=0))


def test_empty_batch() -> None:
    model, _ = get_case("ppo-box")
    policy = thrust_export.NumpyPolicy(*_extract(model))
    empty = np.zeros((0, *model.observation_space.shape), np.float32)
    actions, _ = policy.predict(empty)
    expected, _ = model.predict(empty, deterministic=True)
    assert actions.shape == expected.shape == (0, 2)


def _extract(model):  # type: ignore[no-untyped-def]
    from thrust_export.sb3 import extract

    return extract(model)


def test_check_parity_detects_a_wrong_policy() -> None:
    """The parity checker itself can fail: one perturbed weight is reported."""
    model, _ = get_case("ppo-discrete")
    metadata, arrays = _extract(model)
    good = thrust_export.check_parity(model, thrust_export.NumpyPolicy(metadata, arrays), n=300)
    assert good.passed, good.summary()
    assert good.action_mismatches == 0
    broken = dict(arrays)
    broken["policy.action_net.0.weight"] = arrays["policy.action_net.0.weight"] * 1.5
    bad = thrust_export.check_parity(model, thrust_export.NumpyPolicy(metadata, broken), n=300)
    assert not bad.passed
    assert bad.deviations["logits"] > 1e-3
    assert "FAILED" in bad.summary()


def test_check_parity_on_continuous_outputs() -> None:
    model, _ = get_case("sac")
    metadata, arrays = _extract(model)
    report = thrust_export.check_parity(model, thrust_export.NumpyPolicy(metadata, arrays), n=500)
    assert report.passed, report.summary()
    assert set(report.deviations) == {"action", "mean", "log_std"}
    assert report.largest_deviation[1] <= 1e-5
    shifted = dict(arrays)
    key = next(k for k in arrays if k.startswith("mean.") and k.endswith("bias"))
    shifted[key] = arrays[key] + np.float32(1e-3)
    bad = thrust_export.check_parity(model, thrust_export.NumpyPolicy(metadata, shifted), n=500)
    assert not bad.passed and bad.action_mismatches > 0


def test_thrust_algos_ppo_exports_like_stock_ppo(tmp_path):
    """thrust_algos.PPO subclasses SB3's PPO with the same policy: exported and checked."""
    import numpy as np

    import thrust_export
    from thrust_algos import PPO
    from thrust_envs.sb3 import make_vec_env

    model = PPO("MlpPolicy", make_vec_env("Thrust/CartPole-v1", 2, seed=0), seed=0, device="cpu")
    path = thrust_export.export_numpy(model, tmp_path / "thrust_ppo.npz")
    policy = thrust_export.load(path)
    obs = np.random.default_rng(0).uniform(-1, 1, (64, 4)).astype(np.float32)
    np.testing.assert_array_equal(policy.predict(obs)[0], model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("fmt", ["numpy", "onnx"])
@pytest.mark.parametrize(
    ("verify", "error"),
    [(-1, ValueError), (2.5, TypeError), ("8", TypeError), (True, TypeError), (None, TypeError)],
)
def test_verify_is_checked_before_anything_is_written(
    fmt: str, verify: object, error: type[Exception], tmp_path: Path
) -> None:
    """``verify`` is a number of observations (an int >= 0): anything else is refused, naming
    it, before the model is read, and no file is written (nor an earlier one touched)."""
    export = thrust_export.export_numpy if fmt == "numpy" else thrust_export.export_onnx
    out = tmp_path / ("p.npz" if fmt == "numpy" else "p.onnx")
    with pytest.raises(error, match="verify must be a number of observations"):
        export(tmp_path / "no-such-model.zip", out, verify=verify)  # type: ignore[arg-type]
    assert not out.exists()
    model, _ = get_case("ppo-discrete")
    out.write_bytes(b"an earlier export")
    with pytest.raises(error, match="verify"):
        export(model, out, verify=verify)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == [out] and out.read_bytes() == b"an earlier export"
    # What the documentation allows: any int >= 0 (0 skips), numpy integers too.
    assert (
        export(model, out, verify=np.int64(0)) == out and out.read_bytes() != b"an earlier export"
    )


def _sb3_refuses(model: object, obs: np.ndarray) -> bool:
    try:
        model.predict(obs, deterministic=True)  # type: ignore[attr-defined]
    except ValueError:
        return True
    return False


@pytest.mark.parametrize(
    "case",
    [
        "ppo-discrete",
        "ppo-multidiscrete",
        "ppo-multibinary",
        "ppo-box",
        "ppo-box-gsde",
        "a2c-box-float64",
        "sac",
        "dqn",
        "td3",
    ],
)
def test_non_finite_observations_are_refused_where_sb3_refuses_them(
    case: str, tmp_path: Path
) -> None:
    """SB3's action distributions refuse NaN parameters (a NaN observation entry always gives
    them, inf and -inf often): the exports raise ValueError naming the rows and their entries
    where SB3 raises, and otherwise return SB3's action (DQN and TD3 have no distribution)."""
    model, _ = get_case(case)
    exports = {
        "numpy": thrust_export.to_numpy_policy(model),
        "onnx": thrust_export.OnnxPolicy(
            thrust_export.export_onnx(model, tmp_path / "p.onnx", verify=0)
        ),
    }
    shape = model.observation_space.shape
    finite = sample_observations(model.observation_space, 3, seed=0).astype(np.float64)
    refused = 0
    for entries in ([np.nan], [np.inf], [np.inf, -np.inf], [-np.inf] * 3, [1e30, -1e30]):
        batch = finite.copy()
        flat = batch[1].reshape(-1)
        flat[: len(entries)] = entries
        sb3 = _sb3_refuses(model, batch)
        assert sb3 == _sb3_refuses(model, batch[1])  # one observation alike
        if np.isnan(entries[0]):
            assert sb3 == (case not in ("dqn", "td3"))  # NaN: refused by every distribution
        refused += sb3
        for name, policy in exports.items():
            for obs, row in ((batch, "observation row 1"), (batch[1], "the observation")):
                if sb3:
                    with pytest.raises(ValueError, match=rf"^{row} \(") as info:
                        policy.predict(obs)
                    if not np.isfinite(entries[0]):
                        assert f": {entries[0]}" in str(info.value), (name, info.value)
                else:
                    expected = model.predict(obs, deterministic=True)[0]
                    got = policy.predict(obs)[0]
                    np.testing.assert_allclose(
                        got, expected, rtol=1e-5, atol=1e-5, err_msg=f"{name} {entries}"
                    )
        if sb3 and case not in ("ppo-box-gsde",):
            with pytest.raises(ValueError, match="observation row 1"):
                exports["numpy"].predict(batch, deterministic=False)
    assert refused or case in ("dqn", "td3")
    # Finite rows alone are fine (the refusal names row 1 only).
    exports["numpy"].predict(np.delete(batch, 1, axis=0))
    assert shape == exports["numpy"].observation_shape
