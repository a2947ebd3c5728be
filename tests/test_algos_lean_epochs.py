"""The one-call update epoch (``thrust_algos._lean_update``) against the per-minibatch lean
path it replaces on the CPU: same minibatches, same losses, same weights to float rounding.

Both paths are compared with stock SB3 in test_algos_lean.py (the default path there is the
epoch kernel); here the two Thrust paths side by side on what the kernel must get right itself:
a short last minibatch, ReLU and uneven networks, Box actions with value clipping, no advantage
normalisation, and early stopping on ``target_kl``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from test_algos_ppo import LOSSES, run
from torch_threads import one_torch_thread as one_torch_thread

import thrust_algos
from thrust_algos import _blas

CASES = {
    "categorical, short last minibatch": (
        "CartPole-v1",
        {"n_steps": 48, "batch_size": 40, "n_epochs": 3},
    ),
    "relu, uneven networks, no normalisation": (
        "CartPole-v1",
        {
            "n_steps": 32,
            "batch_size": 32,
            "n_epochs": 2,
            "normalize_advantage": False,
            "policy_kwargs": {
                "net_arch": {"pi": [32, 16], "vf": [24]},
                "activation_fn": th.nn.ReLU,
            },
        },
    ),
    "gaussian, value clipping, entropy": (
        "Pendulum-v1",
        {"n_steps": 32, "batch_size": 48, "n_epochs": 2, "clip_range_vf": 0.2, "ent_coef": 0.01},
    ),
    "early stop on target_kl": (
        "CartPole-v1",
        {"n_steps": 32, "batch_size": 16, "n_epochs": 5, "target_kl": 1e-5},
    ),
}


def _both_paths(monkeypatch, env_id: str, kwargs: dict, n_updates: int = 2):
    models = {}
    for path in ("per minibatch", "epoch kernel"):
        with monkeypatch.context() as patch:
            if path == "per minibatch":
                patch.setattr(_blas, "blas_available", lambda: "switched off by the test")
            recorder, model = run(
                thrust_algos.PPO, make_vec_env(env_id, 4, seed=1), n_updates, **kwargs
            )
        models[path] = (recorder, model)
    return models


@pytest.mark.parametrize("case", list(CASES))
def test_epoch_kernel_equals_the_per_minibatch_lean_update(monkeypatch, case: str) -> None:
    env_id, kwargs = CASES[case]
    models = _both_paths(monkeypatch, env_id, kwargs)
    (slow, slow_model), (fast, fast_model) = models["per minibatch"], models["epoch kernel"]
    assert slow_model.update_path == "lean per minibatch: switched off by the test"
    assert fast_model.update_path == "epoch kernel"
    assert fast_model._n_updates == slow_model._n_updates
    if "target_kl" in kwargs:
        assert fast_model._n_updates < 2 * kwargs["n_epochs"]  # it did stop early
    for want, got in zip(slow.losses, fast.losses, strict=True):
        for key in LOSSES:
            rel = 1e-3 if key == "train/explained_variance" else 1e-4
            assert got[key] == pytest.approx(want[key], rel=rel, abs=1e-6), (case, key)
    initial = thrust_algos.PPO("MlpPolicy", make_vec_env(env_id, 4, seed=1), seed=1, **kwargs)
    moved = 0.0
    for name, value in slow_model.policy.state_dict().items():
        got = fast_model.policy.state_dict()[name]
        np.testing.assert_allclose(got.numpy(), value.numpy(), rtol=1e-4, atol=2e-6, err_msg=name)
        moved = max(moved, float((value - initial.policy.state_dict()[name]).abs().max()))
    assert moved > 1e-4  # the updates changed the weights (the comparison is not vacuous)
    # Adam's state is the optimizer's own: the moments and step counters match too.
    slow_state = slow_model.policy.optimizer.state_dict()["state"]
    fast_state = fast_model.policy.optimizer.state_dict()["state"]
    for key, state in slow_state.items():
        assert float(fast_state[key]["step"]) == float(state["step"])
        np.testing.assert_allclose(
            fast_state[key]["exp_avg"].numpy(), state["exp_avg"].numpy(), rtol=1e-3, atol=1e-7
        )


def test_epoch_kernel_falls_back_with_the_reason(monkeypatch) -> None:
    """Without SciPy (numba's BLAS) the per-minibatch path runs and says why; with a
    non-Adam optimizer, neither lean optimizer path runs."""
    monkeypatch.setattr(_blas, "blas_available", lambda: "SciPy is not installed")
    _, model = run(thrust_algos.PPO, make_vec_env("CartPole-v1", 2, seed=1), 1, n_steps=16)
    assert model.update_path == "lean per minibatch: SciPy is not installed"
    monkeypatch.undo()
    _, model = run(
        thrust_algos.PPO,
        make_vec_env("CartPole-v1", 2, seed=1),
        1,
        n_steps=16,
        policy_kwargs={"optimizer_class": th.optim.SGD},
    )
    assert model.update_path.startswith("lean per minibatch: the optimizer is not")
    _, model = run(thrust_algos.PPO, make_vec_env("CartPole-v1", 2, seed=1), 1, lean=False)
    assert model.update_path == "autograd"


class NoAdvantages(thrust_algos.GpuRolloutBuffer):
    """A user's buffer reshaping its samples: zero advantages, so no policy gradient."""

    def _get_samples(self, batch_inds, env=None):
        samples = super()._get_samples(batch_inds, env)
        return samples._replace(advantages=th.zeros_like(samples.advantages))


def test_a_buffer_subclass_sampling_its_own_way_is_not_bypassed() -> None:
    """The kernel gathers minibatches from the storage itself; a buffer class with its own
    sampling takes the per-minibatch path, through its get(), as SB3's update would: with zero
    advantages (and no entropy bonus) the policy's head does not move."""
    model = thrust_algos.PPO(
        "MlpPolicy", make_vec_env("CartPole-v1", 2, seed=1), n_steps=32, batch_size=32,
        n_epochs=2, seed=1, device="cpu", normalize_advantage=False,
        rollout_buffer_class=NoAdvantages,
    )  # fmt: skip
    before = model.policy.action_net.weight.detach().clone()
    model.learn(128)
    assert model.update_path == (
        "lean per minibatch: the rollout buffer is a NoAdvantages, not a GpuRolloutBuffer"
    )
    assert th.equal(model.policy.action_net.weight.detach(), before)


def test_saved_model_omits_the_kernel_and_loads_into_it(tmp_path) -> None:
    _, model = run(thrust_algos.PPO, make_vec_env("CartPole-v1", 2, seed=1), 1, n_steps=16)
    model.save(tmp_path / "model.zip")
    loaded = thrust_algos.PPO.load(tmp_path / "model.zip", env=make_vec_env("CartPole-v1", 2))
    assert loaded._lean_epochs is None
    loaded.learn(32)
    assert loaded.update_path == "epoch kernel"


_DETERMINISM_SCRIPT = """
import hashlib, torch as th
th.set_num_threads(1)
from thrust_algos import PPO
from thrust_envs.sb3 import make_vec_env
env = make_vec_env("Thrust/CartPole-v1", 8, seed=0)
model = PPO("MlpPolicy", env, n_steps=64, batch_size=512, n_epochs=2, seed=0, device="cpu",
            policy_kwargs={"net_arch": [256, 256]})
model.learn(1024)
digest = hashlib.sha256()
for p in model.policy.parameters():
    digest.update(p.detach().numpy().tobytes())
print(model.update_path, model._lean_epochs.parallel, digest.hexdigest())
"""


@pytest.mark.skipif(
    not _blas.openblas().found, reason="SciPy's OpenBLAS not found: the serial kernel runs"
)
def test_epoch_kernel_weights_do_not_depend_on_threads() -> None:
    """The same seed gives the same weights bit for bit from the serial kernel (one numba
    thread) and the parallel one (the two networks on two threads). OpenBLAS is held at one
    thread inside the kernels either way; outside them its products here are large enough
    to split."""
    root = Path(__file__).resolve().parents[1]
    outputs = []
    for threads in ("1", "2"):
        env = {
            **os.environ,
            "OPENBLAS_NUM_THREADS": threads,
            "NUMBA_NUM_THREADS": threads,
            "PYTHONPATH": str(root),
        }
        result = subprocess.run(
            [sys.executable, "-c", _DETERMINISM_SCRIPT],
            env=env, capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        outputs.append(result.stdout.strip().splitlines()[-1].rsplit(" ", 2))
    # one numba thread: the serial kernel; two: the networks on two threads; same weights
    assert [kernel[:2] for kernel in outputs] == [
        ["epoch kernel", "False"],
        ["epoch kernel", "True"],
    ]
    assert outputs[0][2] == outputs[1][2]


@pytest.mark.parametrize("path", ["epoch kernel", "per minibatch"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_an_early_stop_steps_nothing_and_leaves_every_gradient(
    monkeypatch, env_id: str, path: str
) -> None:
    """A negative target_kl stops at the first minibatch, before any step, as SB3 does: the
    weights, the optimizer state and every ``.grad`` (the Gaussian log-std's included) are
    what they were; one epoch counts as done. On both lean paths."""
    if path == "per minibatch":
        monkeypatch.setattr(_blas, "blas_available", lambda: "switched off by the test")
    model = thrust_algos.PPO(
        "MlpPolicy", make_vec_env(env_id, 2, seed=1), n_steps=32, batch_size=16, seed=1,
        target_kl=-1.0,
    )  # fmt: skip
    model.learn(64)  # one rollout, one update (stopped at once)
    expected = "epoch kernel" if path == "epoch kernel" else "lean per minibatch"
    assert model.update_path.startswith(expected)
    assert model._n_updates == 1
    for param in model.policy.parameters():
        param.grad = th.full_like(param, 7.0)
    weights = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.train()
    assert model._n_updates == 2
    for param in model.policy.parameters():
        assert bool((param.grad == 7.0).all())
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, weights[key]), key


def test_train_refuses_a_partial_buffer_on_both_paths(monkeypatch) -> None:
    """train() on a buffer that is not full raises, as SB3's buffer.get does, on the epoch
    kernel and on the per-minibatch path, and changes no weight."""
    for path in ("epoch kernel", "per minibatch"):
        with monkeypatch.context() as patch:
            if path == "per minibatch":
                patch.setattr(_blas, "blas_available", lambda: "switched off by the test")
            _, model = run(thrust_algos.PPO, make_vec_env("CartPole-v1", 2, seed=1), 1, n_steps=16)
            weights = {k: v.clone() for k, v in model.policy.state_dict().items()}
            model.rollout_buffer.reset()
            with pytest.raises(RuntimeError, match="needs a full rollout buffer"):
                model.train()
            for key, value in model.policy.state_dict().items():
                assert th.equal(value, weights[key]), (path, key)
