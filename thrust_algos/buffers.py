"""Device-resident rollout buffers: drop-in ``rollout_buffer_class`` values for SB3's on-policy
algorithms (``PPO``, ``A2C``) and sb3-contrib's (``TRPO``, ``MaskablePPO``).

Every field lives in a torch tensor on the model's device, allocated once in ``__init__`` and
overwritten in place by each rollout. ``add`` accepts numpy arrays (what stock SB3 passes) or
tensors (what ``thrust_algos.PPO`` passes, so observations are not uploaded twice). ``get`` draws
one permutation per call and yields minibatches by indexing those tensors on the device: no host
copy. GAE runs through :func:`thrust_algos.compute_gae` (Triton on CUDA, numba on the CPU).

Layout: storage is step-major, ``(buffer_size, n_envs, ...)``, as in SB3. SB3 numbers samples
env-major (its ``swap_and_flatten``); ``get`` maps SB3's sample numbers onto the storage so that the
same permutation yields the same minibatches as stock SB3.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.buffers import (
    MaskableDictRolloutBuffer,
    MaskableDictRolloutBufferSamples,
    MaskableRolloutBuffer,
    MaskableRolloutBufferSamples,
)
from stable_baselines3.common.buffers import BaseBuffer, DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples, RolloutBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from thrust_algos.gae import GAE_BACKENDS, GaeBackend, check_discounts, compute_gae

ArrayOrTensor = np.ndarray | th.Tensor


def torch_dtype(np_dtype: np.typing.DTypeLike) -> th.dtype:
    """The torch dtype of a numpy dtype (``np.float32`` -> ``torch.float32``)."""
    return th.from_numpy(np.zeros(0, dtype=np_dtype)).dtype


def write_step(storage: th.Tensor, host: np.ndarray | None, pos: int, src: Any, name: str) -> None:
    """Write one step of every environment, ``src``, into ``storage[pos]`` in place.

    ``src`` (numpy array, tensor on any device, or scalar) may have any shape with as many elements
    as a row (SB3 passes discrete actions as ``(n_envs,)`` or ``(n_envs, 1)`` and values as
    ``(n_envs, 1)``); its dtype is converted. ``host`` is a numpy view of ``storage`` when that
    lives on the CPU: assigning into it is the cheapest copy there is.
    """
    row_shape = storage.shape[1:]
    try:
        if host is not None:
            if isinstance(src, th.Tensor):
                src = src.detach().cpu().numpy()
            host[pos] = np.asarray(src).reshape(row_shape)
        elif isinstance(src, th.Tensor):
            storage[pos].copy_(src.detach().reshape(row_shape))
        else:
            storage[pos].copy_(th.as_tensor(np.asarray(src).reshape(row_shape)))
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"{name} of shape {tuple(np.shape(src))} cannot fill one step of shape "
            f"{tuple(row_shape)} (n_envs={row_shape[0]}): expected {row_shape.numel()} elements"
        ) from error


def host_view(tensor: th.Tensor) -> np.ndarray | None:
    """A numpy view sharing ``tensor``'s memory if it lives on the CPU, else None."""
    return tensor.numpy() if tensor.device.type == "cpu" else None


#: The keyword arguments of the device buffers that SB3's own buffers do not take.
DEVICE_BUFFER_KWARGS = ("gae_backend", "shuffle_on_device")


class GpuRolloutBuffer(RolloutBuffer):
    """
    Rollout buffer whose storage is torch tensors on ``device``, for Box, Discrete, MultiDiscrete
    and MultiBinary observations. A drop-in ``rollout_buffer_class`` for SB3's ``PPO`` and ``A2C``
    and sb3-contrib's ``TRPO``.

    Tensors (``buffer_size = n_steps``):

    - ``observations``: ``(n_steps, n_envs, *obs_shape)``, the observation space's dtype
    - ``actions``: ``(n_steps, n_envs, action_dim)``, float32 (SB3 casts sampled actions to float32)
    - ``rewards``, ``episode_starts``, ``log_probs``, ``advantages``: ``(n_steps, n_envs)``, float32
    - ``values_tensor``, ``returns_tensor``: ``(n_steps, n_envs)``, float32

    ``values`` and ``returns`` are numpy views (CPU) or copies (other devices) of the last two:
    SB3's ``train()`` reads them with numpy for ``explained_variance``.

    :param buffer_size: Number of steps per environment (``n_steps``)
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device of the storage
    :param gae_lambda: Factor for trade-off of bias vs variance for Generalized Advantage Estimator
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param gae_backend: Backend of :func:`thrust_algos.compute_gae` (``"auto"``: Triton on CUDA,
        numba on the CPU)
    :param shuffle_on_device: Draw each epoch's permutation with ``torch.randperm`` on the device
        (``True``) or from numpy's global generator exactly like SB3 (``False``, so that training
        matches stock SB3 sample for sample). ``None``: on the device unless it is the CPU.
    """

    observations: th.Tensor  # type: ignore[assignment]
    actions: th.Tensor  # type: ignore[assignment]
    rewards: th.Tensor  # type: ignore[assignment]
    advantages: th.Tensor  # type: ignore[assignment]
    episode_starts: th.Tensor  # type: ignore[assignment]
    log_probs: th.Tensor  # type: ignore[assignment]
    values_tensor: th.Tensor
    returns_tensor: th.Tensor

    _samples_type: ClassVar[type] = RolloutBufferSamples

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
        gae_backend: GaeBackend = "auto",
        shuffle_on_device: bool | None = None,
    ):
        # SB3's numpy initialisers are skipped on purpose: nothing here is a numpy array.
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device, n_envs)
        if buffer_size < 1 or n_envs < 1:
            raise ValueError(f"buffer_size and n_envs must be >= 1, got {buffer_size}, {n_envs}")
        if gae_backend not in GAE_BACKENDS:
            raise ValueError(f"gae_backend must be one of {GAE_BACKENDS}, got {gae_backend!r}")
        if shuffle_on_device is not None and not isinstance(shuffle_on_device, bool):
            raise TypeError(
                f"shuffle_on_device must be True, False or None, got {shuffle_on_device!r}"
            )
        check_discounts(gamma, gae_lambda)
        self.gae_lambda = gae_lambda
        self.gamma = gamma
        self.gae_backend = gae_backend
        if shuffle_on_device is None:
            shuffle_on_device = self.device.type != "cpu"
        self.shuffle_on_device = shuffle_on_device
        self.generator_ready = False
        self._allocate()
        self.reset()

    # --- storage -------------------------------------------------------------------------------

    def _allocate(self) -> None:
        """Allocate every tensor once, plus their views (:meth:`_make_views`)."""
        steps_envs = (self.buffer_size, self.n_envs)

        def zeros(*shape: int, dtype: th.dtype = th.float32) -> th.Tensor:
            return th.zeros(shape, dtype=dtype, device=self.device)

        self.observations = self._allocate_observations()
        self.actions = zeros(*steps_envs, self.action_dim, dtype=self._action_dtype())
        self.rewards = zeros(*steps_envs)
        self.episode_starts = zeros(*steps_envs)
        self.values_tensor = zeros(*steps_envs)
        self.log_probs = zeros(*steps_envs)
        self.advantages = zeros(*steps_envs)
        self.returns_tensor = zeros(*steps_envs)
        self._make_views()

    #: The views :meth:`_make_views` makes: pickling would copy each apart from its tensor
    #: (a numpy view and a torch view pickle by value), so they are left out and made again.
    _VIEWS: ClassVar[tuple[str, ...]] = ("_host", "_host_observations", "_flat_actions", "_flat")

    def _make_views(self) -> None:
        """Numpy views of the storage for writes on the CPU; flat ``(n_steps * n_envs, ...)``
        views for ``get``."""
        n_samples = self.buffer_size * self.n_envs
        self._host = {
            name: host_view(getattr(self, name))
            for name in ("actions", "rewards", "episode_starts", "values_tensor", "log_probs")
        }
        self._host_observations = self._observation_views()
        self._flat_actions = self.actions.view(n_samples, self.action_dim)
        self._flat = {
            name: getattr(self, name).view(n_samples)
            for name in ("values_tensor", "log_probs", "advantages", "returns_tensor")
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._VIEWS:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_views()

    def _allocate_observations(self) -> Any:
        assert isinstance(self.obs_shape, tuple)
        obs_dtype = torch_dtype(self.observation_space.dtype)
        return th.zeros(
            (self.buffer_size, self.n_envs, *self.obs_shape), dtype=obs_dtype, device=self.device
        )

    def _observation_views(self) -> Any:
        """Numpy views of the observation storage on the CPU (None elsewhere)."""
        return host_view(self.observations)

    def _action_dtype(self) -> th.dtype:
        # SB3's RolloutBuffer hands out actions as float32 whatever the space's dtype.
        return th.float32

    def _store_observations(self, obs: Any) -> None:
        write_step(self.observations, self._host_observations, self.pos, obs, "obs")

    def _observation_batch(self, indices: th.Tensor) -> Any:
        n_samples = self.buffer_size * self.n_envs
        return self.observations.view(n_samples, *self.obs_shape)[indices]  # type: ignore[misc]

    @property
    def values(self) -> np.ndarray:  # type: ignore[override]
        """Value estimates as numpy, ``(n_steps, n_envs)`` (a view on the CPU, else a copy)."""
        return self.values_tensor.cpu().numpy()

    @property
    def returns(self) -> np.ndarray:  # type: ignore[override]
        """TD(lambda) returns as numpy, ``(n_steps, n_envs)`` (a view on the CPU, else a copy)."""
        return self.returns_tensor.cpu().numpy()

    # --- the RolloutBuffer interface --------------------------------------------------------------

    def reset(self) -> None:
        """Start a new rollout. Storage is kept and overwritten (``add`` fills every slot)."""
        BaseBuffer.reset(self)
        self.generator_ready = False

    def add(  # type: ignore[override]
        self,
        obs: Any,
        action: ArrayOrTensor,
        reward: ArrayOrTensor,
        episode_start: ArrayOrTensor,
        value: th.Tensor,
        log_prob: th.Tensor,
    ) -> None:
        """
        Store one step of every environment (numpy arrays or tensors on any device).

        :param obs: Observations, ``(n_envs, *obs_shape)`` (a dict of those for Dict spaces)
        :param action: Actions, ``(n_envs, action_dim)`` or ``(n_envs,)``
        :param reward: Rewards, ``(n_envs,)``
        :param episode_start: Whether ``obs`` starts an episode, ``(n_envs,)``
        :param value: Value estimates of ``obs``, ``(n_envs,)`` or ``(n_envs, 1)``
        :param log_prob: Log-probabilities of ``action``, ``(n_envs,)``
        """
        if self.full:
            raise RuntimeError(
                f"the rollout buffer is full ({self.buffer_size} steps); call reset() first"
            )
        pos, host = self.pos, self._host
        self._store_observations(obs)
        write_step(self.actions, host["actions"], pos, action, "action")
        write_step(self.rewards, host["rewards"], pos, reward, "reward")
        write_step(self.episode_starts, host["episode_starts"], pos, episode_start, "episode_start")
        write_step(self.values_tensor, host["values_tensor"], pos, value, "value")
        write_step(self.log_probs, host["log_probs"], pos, log_prob, "log_prob")
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: ArrayOrTensor) -> None:
        """
        GAE(lambda) advantages and TD(lambda) returns, with SB3's exact semantics, in place.

        :param last_values: Value estimates of the observations after the last step, ``(n_envs,)``
            or ``(n_envs, 1)``
        :param dones: Whether the last step ended each episode, ``(n_envs,)``
        """
        compute_gae(
            self.rewards,
            self.values_tensor,
            self.episode_starts,
            th.as_tensor(last_values).detach().to(self.device),
            th.as_tensor(dones).to(self.device),
            self.gamma,
            self.gae_lambda,
            backend=self.gae_backend,
            out=(self.advantages, self.returns_tensor),
        )

    def get(  # type: ignore[override]
        self, batch_size: int | None = None
    ) -> Generator[RolloutBufferSamples, None, None]:
        """
        Yield minibatches covering the whole rollout once, in a fresh random order.

        :param batch_size: Minibatch size (``None``: the whole rollout at once)
        """
        if not self.full:
            raise RuntimeError(
                f"get() needs a full rollout buffer: {self.pos} of {self.buffer_size} steps added"
            )
        n_samples = self.buffer_size * self.n_envs
        indices = self.sample_order()
        self.generator_ready = True
        if batch_size is None:
            batch_size = n_samples
        for start in range(0, n_samples, batch_size):
            yield self._get_samples(indices[start : start + batch_size])

    def sample_order(self) -> th.Tensor:
        """
        One permutation of the rollout, as storage indices ``step * n_envs + env`` on the device.

        SB3 draws ``np.random.permutation(n_steps * n_envs)`` over env-major sample numbers
        ``env * n_steps + step``; with ``shuffle_on_device=False`` this is that same draw.
        """
        n_samples = self.buffer_size * self.n_envs
        if self.shuffle_on_device:
            order = th.randperm(n_samples, device=self.device)
            return (order % self.buffer_size) * self.n_envs + order // self.buffer_size
        # numpy's legacy global generator on purpose: it is the one SB3 draws from (and the
        # index arithmetic in numpy: one transfer instead of four small torch operations).
        draw = np.random.permutation(n_samples)  # noqa: NPY002
        indices = (draw % self.buffer_size) * self.n_envs + draw // self.buffer_size
        return th.from_numpy(indices).to(self.device)

    def _get_samples(  # type: ignore[override]
        self, batch_inds: ArrayOrTensor, env: VecNormalize | None = None
    ) -> RolloutBufferSamples:
        """Gather one minibatch; ``batch_inds`` are storage indices (``step * n_envs + env``)."""
        indices = th.as_tensor(batch_inds, device=self.device)
        return self._samples_type(
            observations=self._observation_batch(indices),
            actions=self._flat_actions[indices],
            old_values=self._flat["values_tensor"][indices],
            old_log_prob=self._flat["log_probs"][indices],
            advantages=self._flat["advantages"][indices],
            returns=self._flat["returns_tensor"][indices],
        )


class GpuDictRolloutBuffer(GpuRolloutBuffer, DictRolloutBuffer):
    """
    :class:`GpuRolloutBuffer` for ``spaces.Dict`` observations: ``observations`` is a dict of
    tensors ``(n_steps, n_envs, *obs_shape[key])``. Same parameters as :class:`GpuRolloutBuffer`.
    """

    observations: dict[str, th.Tensor]  # type: ignore[assignment]
    obs_shape: dict[str, tuple[int, ...]]  # type: ignore[assignment]
    _samples_type: ClassVar[type] = DictRolloutBufferSamples

    def _allocate_observations(self) -> dict[str, th.Tensor]:
        if not isinstance(self.observation_space, spaces.Dict):
            raise TypeError(
                f"{type(self).__name__} needs a spaces.Dict observation space, got "
                f"{self.observation_space}; use GpuRolloutBuffer"
            )
        return {
            key: th.zeros(
                (self.buffer_size, self.n_envs, *shape),
                dtype=torch_dtype(self.observation_space[key].dtype),
                device=self.device,
            )
            for key, shape in self.obs_shape.items()
        }

    def _observation_views(self) -> dict[str, np.ndarray | None]:
        return {key: host_view(obs) for key, obs in self.observations.items()}

    def _store_observations(self, obs: Any) -> None:
        if not isinstance(obs, dict) or obs.keys() != self.observations.keys():
            keys = obs.keys() if isinstance(obs, dict) else type(obs).__name__
            raise ValueError(f"obs must be a dict with keys {list(self.observations)}, got {keys}")
        for key, storage in self.observations.items():
            host = self._host_observations[key]
            write_step(storage, host, self.pos, obs[key], f"obs[{key!r}]")

    def _observation_batch(self, indices: th.Tensor) -> dict[str, th.Tensor]:
        n_samples = self.buffer_size * self.n_envs
        return {
            key: storage.view(n_samples, *self.obs_shape[key])[indices]
            for key, storage in self.observations.items()
        }


def _mask_dims(action_space: spaces.Space) -> int:
    """Width of an action mask, as sb3-contrib's MaskableRolloutBuffer computes it."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(sum(action_space.nvec))
    if isinstance(action_space, spaces.MultiBinary) and isinstance(action_space.n, int):
        return 2 * action_space.n
    raise ValueError(
        f"action masking needs a Discrete, MultiDiscrete or 1-D MultiBinary action space, "
        f"got {action_space}"
    )


class _GpuActionMasks(GpuRolloutBuffer):
    """Adds sb3-contrib's ``action_masks`` field, ``(n_steps, n_envs, mask_dims)`` float32, to a
    device buffer (the base of the two Maskable buffers below)."""

    action_masks: th.Tensor  # type: ignore[assignment]
    _masked_samples_type: ClassVar[type]

    _VIEWS: ClassVar[tuple[str, ...]] = (
        *GpuRolloutBuffer._VIEWS,
        "_host_action_masks",
        "_flat_action_masks",
    )

    def _allocate(self) -> None:
        self.mask_dims = _mask_dims(self.action_space)
        shape = (self.buffer_size, self.n_envs, self.mask_dims)
        self.action_masks = th.ones(shape, dtype=th.float32, device=self.device)
        super()._allocate()

    def _make_views(self) -> None:
        super()._make_views()
        self._host_action_masks = host_view(self.action_masks)
        self._flat_action_masks = self.action_masks.view(-1, self.mask_dims)

    def _action_dtype(self) -> th.dtype:
        # sb3-contrib hands out masked actions in the action space's own dtype.
        return torch_dtype(self.action_space.dtype)

    def reset(self) -> None:
        super().reset()
        # A step added without masks allows every action, as in sb3-contrib.
        self.action_masks.fill_(1.0)

    def add(self, *args: Any, action_masks: ArrayOrTensor | None = None, **kwargs: Any) -> None:
        """
        :param action_masks: Masks of the allowed actions, ``(n_envs, mask_dims)``; ``None``
            allows every action
        """
        if action_masks is not None and not self.full:
            write_step(
                self.action_masks, self._host_action_masks, self.pos, action_masks, "action_masks"
            )
        super().add(*args, **kwargs)

    def _get_samples(self, batch_inds: ArrayOrTensor, env: VecNormalize | None = None) -> Any:
        samples = super()._get_samples(batch_inds, env)
        indices = th.as_tensor(batch_inds, device=self.device)
        return self._masked_samples_type(*samples, action_masks=self._flat_action_masks[indices])


class MaskableGpuRolloutBuffer(_GpuActionMasks, MaskableRolloutBuffer):
    """
    :class:`GpuRolloutBuffer` with sb3-contrib's invalid-action masks, a drop-in
    ``rollout_buffer_class`` for ``sb3_contrib.MaskablePPO`` (it is a ``MaskableRolloutBuffer``).
    Actions keep the action space's dtype, as in sb3-contrib. Same parameters as
    :class:`GpuRolloutBuffer`.
    """

    _masked_samples_type: ClassVar[type] = MaskableRolloutBufferSamples


class MaskableGpuDictRolloutBuffer(
    _GpuActionMasks, GpuDictRolloutBuffer, MaskableDictRolloutBuffer
):
    """:class:`MaskableGpuRolloutBuffer` for ``spaces.Dict`` observations."""

    _masked_samples_type: ClassVar[type] = MaskableDictRolloutBufferSamples
