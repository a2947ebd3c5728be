"""The lean update's minibatch step in a CUDA graph: PPO's update on a GPU without the host in
the loop.

On a GPU the lean minibatch step (gather the minibatch, :meth:`LeanActorCritic.ppo_backward`,
``clip_grad_norm_``, the fused Adam step) is about 130 small torch operations. Measured on an
H200 (BENCHMARKS.md, "On a GPU") one step took 1.7 ms at 65,536 samples as at 8,192 (the
arithmetic is tens of microseconds): the time is the host issuing the operations, not the GPU
running them. :class:`GraphedMinibatchStep` captures the step once and replays it for every
minibatch: per minibatch the host then copies the minibatch's indices into the graph's input and
launches the graph.

What it computes is the eager loop's (:meth:`thrust_algos.PPO._train_minibatches`), operation for
operation: the same permutation per epoch (``rollout_buffer.sample_order()``), the same gather,
loss, backward, clipping and Adam step in the same order, so the parameters after an update
should be the eager loop's bit for bit: tested on the CPU with the step run eagerly, and on CUDA
by ``tests/test_algos_graphed_update.py::test_cuda_graph_update_equals_the_eager_loop``, which
the device check runs (written after the H200 lease of 2026-12-04: not yet run on a GPU). The
statistics are summed on the device inside the graph instead of stacked at the end (the logged
means agree to float rounding).

The first two minibatches of a capture run eagerly (warm-up: Adam's state, the allocator's
pools; they are real steps of the update), the third is captured and replayed, the rest are
replayed. A graph depends on the tensors it read (parameters, gradients, the optimizer's state,
the rollout buffer's storage) and on the Python numbers baked into its kernels (clip ranges,
coefficients, the learning rate): :meth:`GraphedMinibatchStep.key` names them, and a change
(a learning-rate schedule, a loaded optimizer) captures anew. If capture fails the step warns
once and runs eagerly for the model's lifetime.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch as th

from thrust_algos.buffers import GpuRolloutBuffer
from thrust_algos.lean import LeanActorCritic, LossSettings
from thrust_envs.graph_capture import EmptyCapture, capture

if TYPE_CHECKING:
    from thrust_algos.ppo import PPO

WARM_UP_STEPS = 2  # eager minibatches before a capture


def graph_plan(model: PPO, lean: LeanActorCritic | None, lean_adam: Any) -> str | None:
    """None if the update's minibatch step can run as a CUDA graph, else why not."""
    if not model.cuda_graphs:
        return "cuda_graphs=False"
    if model.device.type != "cuda":
        return f"the model is on {model.device}, not CUDA"
    if lean is None:
        return "the policy has no lean path"
    if lean_adam is not None:
        return "the update steps LeanAdam (CPU)"
    if model._update_graph_failed:
        return "capturing it failed earlier (see the warning)"
    if model.target_kl is not None:
        return "target_kl's early stop reads each minibatch's KL on the host"
    buffer = model.rollout_buffer
    if type(buffer) is not GpuRolloutBuffer:
        return f"the rollout buffer is a {type(buffer).__name__}, not a GpuRolloutBuffer"
    n_samples = buffer.buffer_size * buffer.n_envs
    if n_samples % model.batch_size:
        return f"batch_size {model.batch_size} does not divide the rollout's {n_samples} samples"
    optimizer = model.policy.optimizer
    if type(optimizer) is not th.optim.Adam or not all(
        group.get("fused") for group in optimizer.param_groups
    ):
        return "the optimizer is not torch's fused Adam"
    return None


@contextlib.contextmanager
def _capturable(optimizer: th.optim.Optimizer) -> Iterator[None]:
    """``capturable=True`` while capturing: torch's check for steps under capture. For the fused
    Adam it changes nothing in the update; off again after, since torch warns when a capturable
    optimizer steps uncaptured (the warm-up steps)."""
    saved = [group["capturable"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["capturable"] = True
    try:
        yield
    finally:
        for group, value in zip(optimizer.param_groups, saved, strict=True):
            group["capturable"] = value


class GraphedMinibatchStep:
    """The lean minibatch step of one model, captured in a CUDA graph and replayed.

    :param model: The PPO model (its policy's optimizer, rollout buffer, batch size and
        ``max_grad_norm``)
    :param lean: Its lean actor-critic
    :param capture: Capture and replay (CUDA); ``False`` runs the same step eagerly, the way a
        failed capture continues (and the way tests check the step on the CPU)
    """

    def __init__(self, model: PPO, lean: LeanActorCritic, capture: bool = True) -> None:
        self.model = model
        self.lean = lean
        self.capture = capture
        device = model.device
        self.indices = th.zeros(model.batch_size, dtype=th.long, device=device)
        # Entropy, policy and value losses and clip fractions summed over the update's
        # minibatches; the approximate KL summed over the current epoch's; the last loss.
        self.sums = th.zeros(4, device=device)
        self.epoch_kl = th.zeros((), device=device)
        self.last_loss = th.zeros((), device=device)
        self.graph: Any = None
        self.graph_key: tuple | None = None
        self.eager_steps = 0
        self.captures = 0  # graphs captured so far (one, unless a key changed)
        self.settings: LossSettings | None = None

    def key(self, settings: LossSettings) -> tuple:
        """What a captured graph depends on: the tensors it reads and writes (by address and
        shape: a buffer made anew, for another env count, may land on the old addresses) and
        the numbers baked into its kernels."""
        model, optimizer = self.model, self.model.policy.optimizer
        buffer = model.rollout_buffer
        tensors = [*self.lean.parameters, *(p.grad for p in self.lean.parameters)]
        for state in optimizer.state.values():
            tensors.extend(v for v in state.values() if isinstance(v, th.Tensor))
        tensors.extend(buffer._flat.values())
        tensors.extend([buffer._flat_actions, buffer.observations])
        hyper = [
            tuple((k, v) for k, v in sorted(g.items()) if k != "params")
            for g in optimizer.param_groups
        ]
        return (
            tuple(settings),
            float(model.max_grad_norm),
            model.batch_size,
            tuple(hyper),
            tuple((t.data_ptr(), tuple(t.shape)) for t in tensors if t is not None),
        )

    def _step(self) -> None:
        """One minibatch: the eager loop's operations, then the statistics summed in place."""
        batch = self.model.rollout_buffer._get_samples(self.indices)
        stats = self.lean.ppo_backward(batch, *self.settings)
        th.nn.utils.clip_grad_norm_(self.lean.parameters, self.model.max_grad_norm, foreach=True)
        self.model.policy.optimizer.step()
        self.sums.add_(
            th.stack([stats.entropy_loss, stats.policy_loss, stats.value_loss, stats.clip_fraction])
        )
        self.epoch_kl.add_(stats.approx_kl)
        self.last_loss.copy_(stats.loss)

    def _run_one(self) -> None:
        """This minibatch (its indices already in :attr:`indices`): eagerly, by the graph, or
        as a warm-up step or the captured one."""
        if not self.capture:
            self._step()
        elif self.graph is not None:
            self.graph.replay()
        elif self.eager_steps < WARM_UP_STEPS:
            # On a side stream, as torch asks of warm-up before a capture.
            current = th.cuda.current_stream(self.model.device)
            side = th.cuda.Stream(device=self.model.device)
            side.wait_stream(current)
            with th.cuda.stream(side):
                self._step()
            current.wait_stream(side)
            self.eager_steps += 1
        else:
            self._capture_and_replay()

    def _capture_and_replay(self) -> None:
        graph = th.cuda.CUDAGraph()
        try:
            # Capturing records the step's kernels without running them.
            with _capturable(self.model.policy.optimizer):
                capture(graph, self._step, self.model.device)
        except RuntimeError as error:
            warnings.warn(
                f"thrust_algos: capturing the update's minibatch step in a CUDA graph failed "
                f"({error}); the update runs eagerly",
                RuntimeWarning,
                stacklevel=4,
            )
            self.model._update_graph_failed = True
            self.capture = False
            if not isinstance(error, EmptyCapture):  # else it ran, on another stream
                self._step()  # the captured step did not run: run it now
            return
        self.graph, self.graph_key = graph, self.key(self.settings)
        self.captures += 1
        graph.replay()

    def run_update(self, settings: LossSettings, n_epochs: int) -> tuple[th.Tensor, ...]:
        """``n_epochs`` passes over the rollout buffer, one step per minibatch; returns the
        statistics :meth:`thrust_algos.PPO._train_minibatches` returns (0-d device tensors:
        mean entropy, policy and value losses, the last epoch's mean approximate KL, the mean
        clip fraction, the last loss)."""
        model, buffer = self.model, self.model.rollout_buffer
        self.settings = settings
        if self.graph is not None and self.key(settings) != self.graph_key:
            self.graph, self.eager_steps = None, 0  # capture anew (a schedule moved, say)
        n_samples = buffer.buffer_size * buffer.n_envs
        batch_size = model.batch_size
        self.sums.zero_()
        steps = 0
        for _ in range(n_epochs):
            self.epoch_kl.zero_()
            order = buffer.sample_order()
            buffer.generator_ready = True
            for start in range(0, n_samples, batch_size):
                self.indices.copy_(order[start : start + batch_size])
                self._run_one()
                steps += 1
            model._n_updates += 1
        means = self.sums / max(steps, 1)
        epoch_kl = self.epoch_kl / (n_samples // batch_size)
        entropy, policy, value, clip_fraction = means.unbind()
        return entropy, policy, value, epoch_kl, clip_fraction, self.last_loss.clone()
