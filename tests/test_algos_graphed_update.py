"""The lean update's minibatch step as a CUDA graph (``thrust_algos.graphed_update``).

On the CPU the step runs eagerly (``capture=False``, the way a failed capture continues): it must
be the eager loop's update operation for operation (parameters bit for bit, statistics to float
rounding). On a CUDA machine the captured graph must give the eager loop's parameters too.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch as th
from host_reads import HostReads

import thrust_algos
from thrust_algos.graphed_update import GraphedMinibatchStep, graph_plan
from thrust_algos.lean import LossSettings
from thrust_envs.sb3 import make_vec_env


def _model(device: str = "cpu", **kwargs) -> thrust_algos.PPO:
    env = make_vec_env("Thrust/CartPole-v1", 16, seed=0)
    hyper = {"n_steps": 32, "batch_size": 128, "n_epochs": 3, "seed": 0, "device": device}
    model = thrust_algos.PPO("MlpPolicy", env, **{**hyper, **kwargs})
    model.learn(16 * 32)  # one rollout and update: Adam's state exists, the buffer is full
    return model


def _update(model: thrust_algos.PPO, graphed: bool, capture: bool = False):
    """One update from the model's current state, by the graphed step or the eager loop; the
    parameters after it and the statistics."""
    lean = model._lean_actor_critic()
    settings = LossSettings(0.2, None, model.ent_coef, model.vf_coef, model.normalize_advantage)
    if graphed:
        step = GraphedMinibatchStep(model, lean, capture=capture)
        stats = step.run_update(settings, model.n_epochs)
    else:
        stats = model._train_minibatches(lean, None, 0.2, None)
    return [p.detach().clone() for p in lean.parameters], [float(s) for s in stats]


def _twice(model: thrust_algos.PPO, capture: bool):
    """The graphed step and the eager loop from the same parameters, Adam state, rollout and
    permutations (numpy's global generator on the CPU, torch's on CUDA)."""
    lean = model._lean_actor_critic()
    params = [p.detach().clone() for p in lean.parameters]
    optimizer_state = copy.deepcopy(model.policy.optimizer.state_dict())
    numpy_state = np.random.get_state()  # noqa: NPY002 (the generator SB3's order draws from)
    torch_state = th.random.get_rng_state()
    cuda_state = th.cuda.get_rng_state_all() if th.cuda.is_available() else None
    eager = _update(model, graphed=False)
    with th.no_grad():
        for p, saved in zip(lean.parameters, params, strict=True):
            p.copy_(saved)
    model.policy.optimizer.load_state_dict(optimizer_state)
    np.random.set_state(numpy_state)  # noqa: NPY002
    th.random.set_rng_state(torch_state)
    if cuda_state is not None:
        th.cuda.set_rng_state_all(cuda_state)
    graphed = _update(model, graphed=True, capture=capture)
    return eager, graphed


def test_the_eager_step_is_the_eager_loop_bit_for_bit() -> None:
    model = _model()
    (eager_params, eager_stats), (params, stats) = _twice(model, capture=False)
    assert all(th.equal(a, b) for a, b in zip(eager_params, params, strict=True))
    # entropy, policy and value losses, approx KL, clip fraction, last loss
    np.testing.assert_allclose(stats, eager_stats, rtol=1e-5, atol=1e-7)
    later = _update(model, graphed=True)[0]  # and the check can fail: a further update differs
    assert not all(th.equal(a, b) for a, b in zip(eager_params, later, strict=True))


def test_the_update_reads_nothing_back_on_the_host() -> None:
    """What a capture needs and what keeps the host ahead of the GPU: a whole update of the
    graphed step (the per-epoch order, the index copies, every minibatch step and its summed
    statistics) issues no operation that waits for the device. Checked on the CPU with the CUDA
    head (torch operations; the CPU's numba head is not what runs on a GPU) and a shuffle on
    the device, as on CUDA."""
    model = _model()
    model.rollout_buffer.shuffle_on_device = True
    lean = model._lean_actor_critic()
    lean.head_kernel = False
    settings = LossSettings(0.2, None, model.ent_coef, model.vf_coef, model.normalize_advantage)
    step = GraphedMinibatchStep(model, lean, capture=False)
    with HostReads() as reads:
        stats = step.run_update(settings, model.n_epochs)
    assert reads.ops == []
    assert step.sums.abs().sum() > 0  # it did run: the statistics were summed
    with HostReads() as reads:  # and the check can fail: logging a statistic reads it
        float(stats[0])
    assert reads.ops == ["aten._local_scalar_dense.default"]


def test_the_graph_key_holds_the_shapes_of_its_tensors() -> None:
    """A buffer made anew (another env count) may land on the old addresses: a graph replayed
    on them would read the old shapes. The key changes with a shape at the same address."""
    model = _model()
    step = GraphedMinibatchStep(model, model._lean_actor_critic(), capture=False)
    settings = LossSettings(0.2, None, model.ent_coef, model.vf_coef, model.normalize_advantage)
    key = step.key(settings)
    assert step.key(settings) == key
    buffer = model.rollout_buffer
    address = buffer.observations.data_ptr()
    buffer.observations = buffer.observations.view(-1, *buffer.observations.shape[2:])
    assert buffer.observations.data_ptr() == address
    assert step.key(settings) != key


def test_graph_plan_names_why_not() -> None:
    model = _model()
    lean = model._lean_actor_critic()
    assert graph_plan(model, lean, None) == "the model is on cpu, not CUDA"
    off = _model(cuda_graphs=False)
    assert graph_plan(off, off._lean_actor_critic(), None) == "cuda_graphs=False"
    assert "no CUDA graph" not in (model.update_path or "")  # the CPU's epoch kernel ran
    assert model.update_path == "epoch kernel"


def test_cuda_graphs_is_validated_and_saved_only_when_off(tmp_path) -> None:
    with pytest.raises(TypeError, match="cuda_graphs must be True or False"):
        _model(cuda_graphs=1)
    off = _model(cuda_graphs=False)
    off.save(tmp_path / "off.zip")
    assert thrust_algos.PPO.load(tmp_path / "off.zip").cuda_graphs is False
    on = _model()
    on.save(tmp_path / "on.zip")
    loaded = thrust_algos.PPO.load(tmp_path / "on.zip")
    assert loaded.cuda_graphs is True
    from stable_baselines3 import PPO as SB3PPO

    SB3PPO.load(tmp_path / "on.zip")  # stock SB3 still loads it


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_update_equals_the_eager_loop() -> None:
    model = _model("cuda")
    assert model.update_path == "lean per minibatch, CUDA graph", model.update_path
    (eager_params, eager_stats), (params, stats) = _twice(model, capture=True)
    assert all(th.equal(a, b) for a, b in zip(eager_params, params, strict=True))
    np.testing.assert_allclose(stats, eager_stats, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("schedule", [False, True])
def test_a_graph_is_captured_once_unless_a_schedule_moves_its_key(schedule: bool) -> None:
    """Constant settings: the first update's capture is replayed by every later update. A
    learning-rate schedule changes the optimizer's hyperparameters, which a graph bakes in, so
    each update captures anew (what gpu_check's "linear lr" layout pays for)."""
    # SB3's progress at the four updates: 0, then 0.5, 0.25, 0 (of the second learn's total)
    learning_rate = (lambda progress: 1e-4 * (1 + progress)) if schedule else 3e-4
    model = _model("cuda", learning_rate=learning_rate)
    model.learn(3 * 16 * 32, reset_num_timesteps=False)  # three more rollouts and updates
    step = model._graphed_update
    assert isinstance(step, GraphedMinibatchStep) and step.capture, model.update_path
    assert step.captures == (4 if schedule else 1)
