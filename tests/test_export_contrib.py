"""sb3-contrib's TRPO and MaskablePPO export (numpy, ONNX, web) and ``action_masks``.

The references are sb3-contrib's own ``predict`` (``action_masks`` included) on thousands of
random observations with random masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_helpers import SpaceEnv, one_torch_thread, randomize
from gymnasium import spaces
from sb3_contrib import TRPO, MaskablePPO

import thrust_export

pytestmark = pytest.mark.usefixtures("one_torch_thread")
_ = one_torch_thread

BOX6 = spaces.Box(-2.0, 2.0, (6,), np.float32)
N_OBS = 3000


def _maskable(action_space: spaces.Space, seed: int) -> MaskablePPO:
    model = MaskablePPO(
        "MlpPolicy", SpaceEnv(BOX6, action_space), n_steps=8, batch_size=8, seed=seed, device="cpu"
    )
    return randomize(model, seed)  # type: ignore[return-value]


def _random_masks(rng: np.random.Generator, n_obs: int, nvec: list[int]) -> np.ndarray:
    """Random masks allowing at least one action of every sub-space."""
    groups = []
    for n in nvec:
        mask = rng.random((n_obs, n)) < 0.5
        mask[np.arange(n_obs), rng.integers(0, n, n_obs)] = True
        groups.append(mask)
    return np.concatenate(groups, axis=1)


@pytest.mark.parametrize(
    "action_space", [spaces.Discrete(7), spaces.MultiDiscrete([3, 5, 2])], ids=["discrete", "md"]
)
def test_maskable_ppo_matches_sb3_contrib_with_masks(
    action_space: spaces.Space, tmp_path: Path
) -> None:
    model = _maskable(action_space, seed=3)
    nvec = (
        [int(action_space.n)]
        if isinstance(action_space, spaces.Discrete)
        else list(action_space.nvec)
    )
    rng = np.random.default_rng(0)
    obs = rng.uniform(-2.0, 2.0, (N_OBS, 6)).astype(np.float32)
    masks = _random_masks(rng, N_OBS, nvec)
    expected = model.predict(obs, deterministic=True, action_masks=masks)[0]
    unmasked = model.predict(obs, deterministic=True)[0]
    assert (expected != unmasked).any()  # the masks change actions: the comparison can fail
    numpy_policy = thrust_export.load(thrust_export.export_numpy(model, tmp_path / "p.npz"))
    onnx_policy = thrust_export.OnnxPolicy(thrust_export.export_onnx(model, tmp_path / "p.onnx"))
    for policy in (numpy_policy, onnx_policy):
        actions = policy.predict(obs, action_masks=masks)[0]
        assert actions.dtype == expected.dtype and actions.shape == expected.shape
        np.testing.assert_array_equal(actions, expected)
        np.testing.assert_array_equal(policy.predict(obs)[0], unmasked)
        # One observation at a time, masks of shape (n_logits,).
        for i in range(0, N_OBS, 150):
            single = policy.predict(obs[i], action_masks=masks[i])[0]
            np.testing.assert_array_equal(single, expected[i])
    # Sampling never picks a forbidden action.
    sampled = numpy_policy.predict(obs, deterministic=False, action_masks=masks)[0]
    sampled = sampled.reshape(N_OBS, -1)
    offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
    assert masks[np.arange(N_OBS)[:, None], sampled + offsets].all()


def test_action_masks_are_validated(tmp_path: Path) -> None:
    model = _maskable(spaces.Discrete(4), seed=1)
    policy = thrust_export.load(thrust_export.export_numpy(model, tmp_path / "p.npz"))
    obs = np.zeros((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"action_masks of shape \(5, 3\): expected \(n_env, 4\)"):
        policy.predict(obs, action_masks=np.ones((5, 3), bool))
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        policy.predict(obs[0], action_masks=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="row 2 allows no action"):
        masks = np.ones((5, 4), bool)
        masks[2] = False
        policy.predict(obs, action_masks=masks)
    with pytest.raises(TypeError, match="bool array"):
        policy.predict(obs, action_masks=np.ones((5, 4), np.float32))
    with pytest.raises(ValueError, match="only 0 and 1"):
        policy.predict(obs, action_masks=np.full((5, 4), 2))
    ints = policy.predict(obs, action_masks=np.eye(4, dtype=np.int64)[[3, 1, 0, 2, 3]])[0]
    np.testing.assert_array_equal(ints, [3, 1, 0, 2, 3])
    box = TRPO(
        "MlpPolicy", SpaceEnv(BOX6, spaces.Box(-1, 1, (2,))), n_steps=8, batch_size=8, device="cpu"
    )
    box_policy = thrust_export.load(thrust_export.export_numpy(box, tmp_path / "box.npz"))
    with pytest.raises(ValueError, match="action_masks apply to Discrete and MultiDiscrete"):
        box_policy.predict(obs, action_masks=np.ones((5, 2), bool))


@pytest.mark.parametrize(
    "action_space",
    [spaces.Discrete(5), spaces.MultiDiscrete([2, 4]), spaces.Box(-1.0, 1.0, (3,))],
    ids=["discrete", "md", "box"],
)
def test_trpo_exports_match_sb3_contrib(action_space: spaces.Space, tmp_path: Path) -> None:
    model = randomize(
        TRPO(
            "MlpPolicy", SpaceEnv(BOX6, action_space), n_steps=8, batch_size=8, seed=2, device="cpu"
        ),
        2,
    )
    model.save(tmp_path / "trpo.zip")
    npz = thrust_export.export_numpy(tmp_path / "trpo.zip", tmp_path / "p.npz")
    onnx_path = thrust_export.export_onnx(tmp_path / "trpo.zip", tmp_path / "p.onnx")
    assert thrust_export.read_metadata(npz)["algorithm"] == "TRPO"
    for exported in (npz, onnx_path):
        report = thrust_export.check_parity(model, exported, n=2000)
        assert report.passed, report.summary()


def test_maskable_ppo_zip_and_web(tmp_path: Path) -> None:
    model = _maskable(spaces.Discrete(2), seed=4)
    env_model = MaskablePPO(
        "MlpPolicy",
        SpaceEnv(spaces.Box(-np.inf, np.inf, (4,), np.float32), spaces.Discrete(2)),
        n_steps=8,
        batch_size=8,
        device="cpu",
    )
    env_model.save(tmp_path / "mppo.zip")
    npz = thrust_export.export_numpy(tmp_path / "mppo.zip", tmp_path / "p.npz", algo="maskableppo")
    assert thrust_export.read_metadata(npz)["algorithm"] == "MaskablePPO"
    page = thrust_export.export_web(npz, tmp_path / "page.html", "Thrust/CartPole-v1")
    assert "MaskablePPO on Thrust/CartPole-v1" in page.read_text()
    report = thrust_export.check_parity(
        model, thrust_export.export_numpy(model, tmp_path / "m.npz")
    )
    assert report.passed, report.summary()
