"""Device batch envs: every row's arrays live on a CUDA device as torch tensors, and the CUDA
templates of ``core/kernels.py`` / ``core/games.py`` step them on torch's current stream.

Outputs are the kernel's own arrays, handed to torch without copies (numba reads the tensors
through ``__cuda_array_interface__``): ``step`` returns the same tensors every call, which the
next step overwrites (``clone()`` what must be kept).

Bad input is caught as on the CPU views, without a host synchronisation per step:

- dtype and shape are read from the tensor's metadata on the host, at once;
- values (actions outside the space, NaN/inf for Box, stepping a finished row with autoreset
  disabled) are checked on the device by a validation kernel that writes the first bad row
  into a small ``status`` array; the step kernel then changes nothing, and keeps changing
  nothing on later steps, until the error has been raised. With ``validate="lazy"`` (default)
  ``status`` is copied to pinned host memory after each step without waiting; ``step`` raises
  as soon as a copy shows an error (usually on the next call), and ``check()``, ``reset()``,
  ``episode_statistics()`` and ``close()`` wait for it. ``validate="sync"`` waits every step
  and raises from the step that was bad, as the CPU views do.

On CUDA a step's two kernels are launched once and then captured in a CUDA graph
(``cuda_graph=True``, the default) that every later step replays: launching a numba-cuda
kernel costs host time for each of its arguments (about 0.3 ms a step for the two on an H200,
2026-12-04), a replay one call. The graph holds the same kernels on the same arrays, so a
step computes what the launches compute; it bakes in ``params``, and a reset whose options
change them captures anew. If a capture fails (or records nothing) the env warns once and
launches the kernels from then on; ``step_path`` says which runs.

A step may itself be captured in a caller's CUDA graph (with the policy's forward, say): it
then launches its kernels into that capture. The host can neither wait for the device there
nor query an event recorded there (CUDA's ``cudaErrorCapturedEvent``), so such a step leaves
the status on the device: ``check()`` (or the steps after the next step outside the capture)
raises what the graph's replays recorded, as lazy validation does.

Without a GPU, under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), ``device="cpu"``
runs the same kernels as Python on CPU tensors (slow: for tests).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from thrust_envs.core.batch import (
    InvalidAction,
    action_array,
    check_reset_mask_rows,
    normalize_seeds,
)
from thrust_envs.core.definition import EnvDefinition, make_params, reset_params
from thrust_envs.core.games import GameArrays
from thrust_envs.core.rng import entropy_seeds, seed_rows
from thrust_envs.core.vector_env import KERNEL_MODES, autoreset_mode_of
from thrust_envs.cuda import targets as T


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "thrust_envs.cuda's device envs need torch (pip install torch)"
        ) from error
    return torch


def _resolve_device(label: str, device: Any):
    torch = _torch()
    device = torch.device(device)
    if T.SIMULATOR:
        if device.type != "cpu":
            raise ValueError(
                f"{label}: under NUMBA_ENABLE_CUDASIM=1 the kernels run in numba's CUDA "
                f"simulator on CPU tensors: pass device='cpu', got {device}"
            )
        return device
    if device.type != "cuda":
        raise ValueError(
            f"{label}: a device env runs on a CUDA device (device='cuda' or 'cuda:N'), got "
            f"{device}; thrust_envs' CPU views (gymnasium.make_vec without device, "
            "thrust_envs.sb3) run on the CPU, and NUMBA_ENABLE_CUDASIM=1 simulates the kernels "
            "on CPU tensors"
        )
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"{label}: CUDA is not available to torch (torch.cuda.is_available() is False: no "
            "GPU, no driver, or a CPU build of torch)"
        )
    return device


@dataclasses.dataclass(frozen=True)
class EpisodeStatistics:
    """Episodes finished since the last read: their number, mean return and mean length (NaN
    when none). For games, ``mean_return`` holds one mean per agent seat."""

    episodes: int
    mean_return: float | tuple[float, ...]
    mean_length: float


class _DeviceBatch:
    """What the env and game device views share: tensors, kernel arguments, launches on
    torch's stream, the lazy status check and episode statistics."""

    rows: int  # threads per launch (rows for envs, games for games)

    def __init__(self, label: str, device: Any, validate: str, cuda_graph: bool) -> None:
        if validate not in ("lazy", "sync"):
            raise ValueError(f"{label}: validate must be 'lazy' or 'sync', got {validate!r}")
        if not isinstance(cuda_graph, bool):
            raise TypeError(f"{label}: cuda_graph must be True or False, got {cuda_graph!r}")
        self.label = label
        self.device = _resolve_device(label, device)
        self.validate = validate
        self.cuda_graph = cuda_graph
        self._graph: Any = None  # the step's kernels captured (torch.cuda.CUDAGraph)
        self._graph_params: Any = None  # the params it was captured with
        self._graph_failed = False
        self._kernels_loaded = False  # launched once: a capture may follow
        self._torch = _torch()
        self._cuda = self.device.type == "cuda"
        self._status_pending = False
        self._stepped_in_capture = False  # a caller's graph may move the status without a copy
        self._event = None
        self._streams: dict[int, Any] = {}
        self.closed = False

    # -- tensors and launches ----------------------------------------------------------------

    def _zeros(self, shape: tuple[int, ...], dtype: Any):
        return self._torch.zeros(shape, dtype=dtype, device=self.device)

    def _array(self, tensor: Any, view: Any = None):
        """The kernel's view of ``tensor`` (same memory): a numba device array, or under the
        simulator a numpy array; ``view`` reinterprets the dtype (int64 storage as uint64)."""
        if self._cuda:
            from numba import cuda

            array = cuda.as_cuda_array(tensor.detach())
        else:
            array = tensor.detach().numpy()
        return array if view is None else array.view(view)

    def _stream(self):
        if not self._cuda:
            return 0
        handle = self._torch.cuda.current_stream(self.device).cuda_stream
        stream = self._streams.get(handle)
        if stream is None:
            from numba import cuda

            stream = self._streams[handle] = cuda.external_stream(handle)
        return stream

    def _launch(self, kernel: Any, *args: Any) -> None:
        if self._cuda:
            with self._torch.cuda.device(self.device):
                T.launch(kernel, self.rows, self._stream(), *args)
        else:
            T.launch(kernel, self.rows, 0, *args)

    def _launch_step(self) -> None:
        raise NotImplementedError

    @property
    def step_path(self) -> str:
        """How ``step`` runs its kernels: ``"CUDA graph"`` (replayed), or ``"kernels"`` and
        why they are launched one by one."""
        if not self._cuda:
            return "kernels: not on CUDA"
        if not self.cuda_graph:
            return "kernels: cuda_graph=False"
        if self._graph_failed:
            return "kernels: capturing them in a CUDA graph failed (warned)"
        if self._graph is not None and self._graph_params == self.params:
            return "CUDA graph"
        return "kernels: captured at the next step"

    def _step(self, actions: Any, target: Any) -> None:
        """One step (the envs' and games' ``step``): ``actions`` checked into ``target`` (the
        kernels' action buffer), the kernels run, the status copy queued; inside a caller's
        capture, no copy and no poll (the module docstring)."""
        self._check_open("step")
        if not self.has_reset:
            raise RuntimeError(f"{self.label}: call reset() before step()")
        capturing = self._cuda and self._torch.cuda.is_current_stream_capturing()
        if capturing:
            self._stepped_in_capture = True
        else:
            self._poll()
        self._load_actions(actions, target)
        self._step_kernels(capturing)
        if not capturing:
            self._after_step()

    def _step_kernels(self, capturing: bool) -> None:
        """The step's kernels: replayed from a CUDA graph of :meth:`_launch_step` where one
        can be, else launched. The first step launches them (loading the kernels before any
        capture); the next captures them, and a change of ``params`` captures anew. Inside a
        caller's own capture (``capturing``) they are launched (into it)."""
        torch = self._torch
        graphs = self._cuda and self.cuda_graph and not self._graph_failed
        if not graphs or capturing:
            self._launch_step()
        elif self._graph is not None and self._graph_params == self.params:
            with torch.cuda.device(self.device):
                self._graph.replay()
        elif not self._kernels_loaded:
            self._launch_step()
            self._kernels_loaded = True  # after it ran: a capture must not load the kernels
        else:
            self._capture_step()

    def _capture_step(self) -> None:
        """Capture :meth:`_launch_step` in a CUDA graph and replay it (capturing records the
        launches without running them). ``_stream`` names torch's current stream, which
        during the capture is the capturing one, so numba launches onto it."""
        from thrust_envs.graph_capture import EmptyCapture, capture

        torch = self._torch
        graph = torch.cuda.CUDAGraph()
        try:
            capture(graph, self._launch_step, self.device)
        except Exception as error:  # torch's RuntimeError, numba's CudaAPIError
            warnings.warn(
                f"{self.label}: capturing the step's kernels in a CUDA graph failed ({error}); "
                "every step launches them",
                RuntimeWarning,
                stacklevel=4,
            )
            self._graph_failed, self._graph = True, None
            if not isinstance(error, EmptyCapture):  # else they ran, on another stream
                self._launch_step()  # the captured launches did not run: launch them now
            return
        self._graph, self._graph_params = graph, self.params
        with torch.cuda.device(self.device):
            graph.replay()

    # -- errors ------------------------------------------------------------------------------

    def _init_status(self, action_parts: int, action_dtype: Any, clear_value: int) -> None:
        self._clear_value = clear_value
        self.status = self._zeros((3,), self._torch.int64)
        self.error_action = self._zeros((action_parts,), action_dtype)
        pin = self._cuda
        self._status_host = self._torch.zeros(3, dtype=self._torch.int64, pin_memory=pin)
        self._clear_status()
        self._status_args = (self._array(self.status), self._array(self.error_action))

    def _clear_status(self) -> None:
        self.status.copy_(self._torch.tensor([self._clear_value, self._clear_value, 0]))

    def _after_step(self) -> None:
        """Queue the status copy (lazy) or wait for it and raise (sync)."""
        self._queue_status_copy()
        if self.validate == "sync":
            self.check()

    def _queue_status_copy(self) -> None:
        self._status_host.copy_(self.status, non_blocking=self._cuda)
        self._status_pending = True
        if self._cuda:
            if self._event is None:
                self._event = self._torch.cuda.Event()
            self._event.record(self._torch.cuda.current_stream(self.device))

    def _poll(self) -> None:
        """Raise a recorded error if its copy has landed; never waits."""
        if self._status_pending and (self._event is None or self._event.query()):
            self._raise_if_error()

    def check(self) -> None:
        """Wait for the last step and raise the error of any bad step since the last check
        (the steps a caller's CUDA graph replayed included: once a step was captured, every
        check reads the status anew, on the current stream, so call it on the stream that
        replays the graph).

        :raises RuntimeError: called inside a CUDA-graph capture, where the host cannot wait
        """
        if self._cuda and self._torch.cuda.is_current_stream_capturing():
            raise RuntimeError(
                f"{self.label}: check() waits for the device, which a CUDA-graph capture "
                "forbids: call it after the capture (or after replaying the graph)"
            )
        if self._stepped_in_capture:  # replays of a captured step, any time, move the status
            self._queue_status_copy()
        if self._status_pending:
            if self._event is not None:
                self._event.synchronize()
            self._raise_if_error()

    def _raise_if_error(self) -> None:
        self._status_pending = False
        bad, finished, _ = self._status_host.tolist()
        if bad == self._clear_value and finished == self._clear_value:
            return
        value = self.error_action.cpu()
        self._clear_status()
        self._raise(bad, finished, value)

    def _raise(self, bad: int, finished: int, value: Any) -> None:
        raise NotImplementedError

    # -- actions -----------------------------------------------------------------------------

    # Set by each view: the shape of a step's actions, and whether they are integers.
    _action_shape: tuple[int, ...]
    _integer_actions: bool

    def check_actions(self, actions: Any):
        """``actions`` as a tensor, its dtype and shape checked as ``step`` checks them (on
        the host, from metadata: the values are checked on the device by the step); raises
        :class:`InvalidAction` saying what was expected."""
        torch, integers = self._torch, self._integer_actions
        expected = "integers" if integers else "real numbers"
        if not isinstance(actions, torch.Tensor):
            array = action_array(
                self.label, actions, lambda: f"actions for {self.single_action_space} ({expected})"
            )
            if array.dtype.kind not in "biuf":  # objects, strings: not numbers at all
                raise InvalidAction(
                    f"{self.label}: actions for {self.single_action_space} must be {expected}, "
                    f"got dtype {array.dtype}"
                )
            actions = torch.as_tensor(array)
        floating = actions.dtype.is_floating_point or actions.dtype.is_complex
        if actions.dtype == torch.bool or (integers and floating) or actions.dtype.is_complex:
            raise InvalidAction(
                f"{self.label}: actions for {self.single_action_space} must be {expected}, got "
                f"dtype {actions.dtype}"
            )
        if tuple(actions.shape) != self._action_shape:
            raise InvalidAction(
                f"{self.label}: expected actions of shape {self._action_shape} (action space "
                f"{self.single_action_space}), got shape {tuple(actions.shape)}"
            )
        return actions

    def _load_actions(self, actions: Any, target: Any) -> None:
        """Check ``actions`` and copy them into ``target`` (the kernels' action buffer). A
        finite float64 action beyond float32's range becomes float32's largest of its sign, as
        on the CPU views (the cast would make it inf, which the step refuses); on the device,
        without a read back."""
        actions = self.check_actions(actions)
        torch = self._torch
        if actions.dtype == torch.float64 and target.dtype == torch.float32:
            largest = float(torch.finfo(torch.float32).max)
            actions = torch.where(actions.isfinite(), actions.clamp(-largest, largest), actions)
        target.copy_(actions, non_blocking=True)

    def _check_open(self, method: str) -> None:
        if self.closed:
            raise RuntimeError(f"{self.label}: {method}() called after close()")

    def _statistics(self, totals: Any) -> tuple[int, Any, float]:
        self.check()
        sums = totals.sum(dim=0).tolist()
        totals.zero_()
        episodes = int(sums[0])
        if episodes == 0:
            return 0, None, float("nan")
        return episodes, [s / episodes for s in sums[2:]], sums[1] / episodes

    def as_sb3_vec_env(self, seed: int | None = None, render_mode: str | None = None) -> Any:
        """This env as a Stable-Baselines3 ``VecEnv``
        (:class:`thrust_envs.sb3.device.DeviceSB3VecEnv`; needs stable_baselines3): what
        ``thrust_algos.PPO`` trains on without leaving the device, and what any other SB3 code
        can step through numpy. ``seed``: the first reset's, as SB3's ``VecEnv.seed``;
        ``render_mode``: None or ``"rgb_array"`` (a single-agent env's frames for SB3's
        ``get_images``, drawn from a host copy of the state)."""
        from thrust_envs.sb3.device import DeviceSB3VecEnv

        return DeviceSB3VecEnv(self, seed, render_mode=render_mode)

    def close(self) -> None:
        """Wait for the device, raise a pending error, and release nothing else (the tensors
        go with the object)."""
        if not self.closed:
            self.closed = True
            self.check()


def _seeds(label: str, seed: Any, rows: int) -> np.ndarray:
    seeds = normalize_seeds(label, seed, rows)
    return entropy_seeds(rows) if seeds is None else seeds


class DeviceVecEnv(_DeviceBatch):
    """``num_envs`` rows of one Thrust env on a CUDA device.

    Tensors (row ``i`` is environment ``i``; all on ``device``): observations ``[N, *obs]``
    float32, rewards float32 ``[N]``, terminations and truncations bool ``[N]``, final_obs
    like observations (``SAME_STEP``: the observation each finished row
    ended on, before its reset), state float64 ``[N, S]``, episode float64 ``[N, 5]`` (as
    ``BatchEnv``'s). Autoreset modes are Gymnasium's ``AutoresetMode`` (or its values
    ``"NextStep"``, ``"SameStep"``, ``"Disabled"``); ``max_episode_steps`` defaults to the
    ID's registered limit, and the registration's parameters apply under ``kwargs``, as in
    ``gym.make`` (``env_id`` may also be an env's definition, labelled by its name: then no
    limit). ``cuda_graph``: replay the step's kernels from a CUDA graph (see
    the module); ``False`` launches them every step.
    """

    def __init__(
        self,
        env_id: str | EnvDefinition,
        num_envs: int,
        device: Any = "cuda",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | str | None = "registered",
        validate: str = "lazy",
        cuda_graph: bool = True,
        **kwargs: Any,
    ) -> None:
        from thrust_envs.registration import lookup

        if isinstance(env_id, EnvDefinition):  # the Gymnasium view's way in: no ID yet
            definition, label, registered = env_id, env_id.name, None
        else:
            definition, spec = lookup(env_id)
            label, registered = spec.id, spec.max_episode_steps  # the ID resolved
            kwargs = {**spec.kwargs, **kwargs}  # the registration's parameters, as gym.make
        super().__init__(label, device, validate, cuda_graph)
        autoreset_mode = autoreset_mode_of(label, autoreset_mode)
        if max_episode_steps == "registered":
            max_episode_steps = registered
        if (
            not isinstance(num_envs, (int, np.integer))
            or isinstance(num_envs, bool)
            or (num_envs < 1)
        ):
            raise ValueError(f"{label}: num_envs must be a positive int, got {num_envs!r}")
        if max_episode_steps is not None and (
            not isinstance(max_episode_steps, (int, np.integer))
            or isinstance(max_episode_steps, bool)
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"{label}: max_episode_steps must be a positive int or None, "
                f"got {max_episode_steps!r}"
            )
        torch = self._torch
        self.definition = definition
        self.num_envs = self.rows = n = int(num_envs)
        self.autoreset_mode = autoreset_mode
        self.max_episode_steps = max_episode_steps
        self.base_params = self.params = make_params(definition, label, kwargs)
        self.kwargs = kwargs  # the parameters given, with the registration's (for its spec)
        self.single_observation_space = definition.observation_space(self.params)
        self.single_action_space = space = definition.action_space(self.params)
        obs_shape = self.single_observation_space.shape
        if len(obs_shape) != 1:
            raise NotImplementedError(f"{label}: device envs take 1-D observations")
        self._discrete = self._integer_actions = isinstance(space, spaces.Discrete)
        if self._discrete:
            self._action_shape: tuple[int, ...] = (n,)
            action_dtype, parts = torch.int64, 1
            self._low: Any = int(space.start)
            self._high: Any = int(space.start + space.n - 1)
        elif isinstance(space, spaces.Box) and len(space.shape) == 1:
            self._action_shape = (n, space.shape[0])
            action_dtype, parts = torch.float32, space.shape[0]
            self._low = self._torch_bounds(space.low)
            self._high = self._torch_bounds(space.high)
        else:
            raise NotImplementedError(f"{label}: device envs take Discrete or 1-D Box actions")
        self.kernels = T.env_kernels(definition, "discrete" if self._discrete else "box")
        self._mode = KERNEL_MODES[autoreset_mode]
        self._max_steps = 0 if max_episode_steps is None else int(max_episode_steps)
        float32 = torch.float32
        self.actions = self._zeros(self._action_shape, action_dtype)
        self.state = self._zeros((n, definition.state_size), torch.float64)
        self._rng = self._zeros((n,), torch.int64)  # uint64 streams, stored as int64
        self.episode = self._zeros((n, 5), torch.float64)
        self.observations = self._zeros((n, *obs_shape), float32)
        self.final_obs = self._zeros((n, *obs_shape), float32)
        self.rewards = self._zeros((n,), float32)
        self.terminations = self._zeros((n,), torch.bool)
        self.truncations = self._zeros((n,), torch.bool)
        self._totals = self._zeros((n, 3), torch.float64)
        self._init_status(parts, action_dtype, n)
        a = self._array
        self._totals_array = a(self._totals)  # made once: a kernel view costs host time
        # The step's and reset's arrays in the order of kernels.RowArrays' fields.
        self._rows = (
            a(self.state), a(self._rng, np.uint64), a(self.episode), a(self.observations),
            a(self.rewards), a(self.terminations), a(self.truncations), a(self.final_obs),
        )  # fmt: skip
        self._actions_array = a(self.actions)
        self._bounds = (self._low if self._discrete else a(self._low),
                        self._high if self._discrete else a(self._high))  # fmt: skip
        self._all_rows = self._zeros((n,), torch.bool).fill_(True)
        self.has_reset = False

    def _torch_bounds(self, values: np.ndarray):
        return self._torch.as_tensor(values.astype(np.float64)).to(self.device)

    def seed(self, seed: Any = None) -> None:
        """Seed row ``i`` from ``seed + i`` (an int), per row (a sequence), or from entropy."""
        self._seed_rows(_seeds(self.label, seed, self.num_envs), None)

    def _seed_rows(self, seeds: np.ndarray, rows: Any) -> None:
        """Seed the streams of ``rows`` (a bool tensor ``[N]``, None for all) from ``seeds``
        (uint64 ``[N]``: row ``i`` from ``seeds[i]``), as the CPU views' ``BatchEnv.seed``."""
        index = np.arange(self.num_envs) if rows is None else np.flatnonzero(rows.cpu().numpy())
        streams = np.zeros(index.shape[0], dtype=np.uint64)
        seed_rows(streams, np.arange(index.shape[0]), seeds[index])
        values = self._torch.from_numpy(streams.view(np.int64)).to(self.device)
        if rows is None:
            self._rng.copy_(values)
        else:
            self._rng[self._torch.from_numpy(index).to(self.device)] = values

    def reset(self, seed: Any = None, options: dict | None = None, options_persist: bool = True):
        """Reset all rows, or those of ``options["reset_mask"]`` (bool ``[N]``); returns the
        observations tensor. A ``seed`` (as for :meth:`seed`) reseeds the streams of the rows
        reset (row ``i`` from ``seed + i``, as the CPU views and Gymnasium's ``SyncVectorEnv``
        do); the first reset seeds every row from entropy where no seed is given. Other
        options as the CPU views': checked against the env's parameters before anything
        changes, so a refused reset leaves streams, state and parameters as they were. With
        ``options_persist`` (the CPU vector view's way) they stay in force for later autoresets;
        without (the SB3 views' way) autoresets draw from the env's own parameters."""
        self._check_open("reset")
        self.check()
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None:
            mask = self._torch.as_tensor(mask)
            if mask.dtype != self._torch.bool or tuple(mask.shape) != (self.num_envs,):
                raise ValueError(
                    f"{self.label}: options['reset_mask'] must be a bool tensor (or array) of "
                    f"shape ({self.num_envs},), got dtype {mask.dtype} and shape "
                    f"{tuple(mask.shape)}"
                )
            mask = mask.to(self.device)
            # one read at a reset, not at a step
            any_row, every_row = self._torch.stack([mask.any(), mask.all()]).tolist()
            check_reset_mask_rows(self.label, any_row, every_row, self.has_reset)
        try:
            params = reset_params(self.definition, self.base_params, options or None)
        except ValueError as error:
            raise type(error)(f"{self.label}: reset(options={options!r}): {error}") from None
        seeds = None if seed is None else _seeds(self.label, seed, self.num_envs)
        if not self.has_reset and (seeds is None or mask is not None):
            self.seed(None)  # the rows a first reset does not seed: from entropy
        if seeds is not None:
            self._seed_rows(seeds, mask)
        self.params = params
        rows = self._all_rows if mask is None else mask
        self._launch(self.kernels.reset, *self._rows, self._array(rows), self.params)
        if not options_persist:
            self.params = self.base_params
        self.has_reset = True
        return self.observations

    def step(self, actions: Any):
        """Step every row; returns ``(observations, rewards, terminations, truncations)``, the
        env's own tensors (overwritten by the next step)."""
        self._step(actions, self.actions)
        return self.observations, self.rewards, self.terminations, self.truncations

    def _launch_step(self) -> None:
        """The step's two kernels on torch's stream, on the loaded actions: their check, then
        every row's step (which leaves a row alone when its actions were refused)."""
        status, error_action = self._status_args
        actions, episode = self._actions_array, self._rows[2]
        self._launch(self.kernels.validate, actions, *self._bounds, self._mode, episode, status)
        self._launch(self.kernels.step, *self._rows, actions, self.params, self._mode,
                     self._max_steps, status, error_action, self._totals_array)  # fmt: skip

    def _raise(self, bad: int, finished: int, value: Any) -> None:
        if bad < self.num_envs:
            shown = int(value[0]) if self._discrete else value.tolist()
            problem = "is outside" if self._discrete else "is not finite in"
            raise InvalidAction(
                f"{self.label}: action {shown!r} of environment {bad} {problem} the action "
                f"space {self.single_action_space}; that step and any after it until this "
                "error were not applied"
            )
        raise RuntimeError(
            f"{self.label}: environment {finished} finished its episode and autoreset is "
            "disabled; reset it with reset(options={'reset_mask': mask}) before stepping it "
            "again (that step and any after it until this error were not applied)"
        )

    def episode_statistics(self) -> EpisodeStatistics:
        """Episodes finished since the last call (one host read; clears the counts)."""
        episodes, returns, length = self._statistics(self._totals)
        mean_return = float("nan") if returns is None else returns[0]
        return EpisodeStatistics(episodes, mean_return, length)


class DeviceGameVecEnv(_DeviceBatch):
    """``num_games`` copies of a multi-agent game on a CUDA device, in the parameter-sharing
    layout: one row per (game, agent), ``R = G * A`` rows, row ``g * A + a``.

    Tensors: observations float32 ``[R, F]`` and final_obs (the observation each row of a game
    that just ended saw last, before the in-kernel reset), rewards float64 ``[R]``,
    terminations / truncations bool ``[R]``, was_alive bool ``[R]`` (the rows this step
    reports on: an agent dead before the step reads reward 0 and neither flag; mask it out),
    game_over bool ``[G]``. Actions ``[R]`` (Discrete) or ``[R, K]`` (MultiDiscrete), ints;
    dead agents' actions are ignored. Finished games reset in the same step. ``cuda_graph``
    as for :class:`DeviceVecEnv`.
    """

    def __init__(
        self,
        game_id: str,
        num_games: int,
        device: Any = "cuda",
        validate: str = "lazy",
        cuda_graph: bool = True,
        **kwargs: Any,
    ) -> None:
        from thrust_envs.core.games import BatchGame
        from thrust_envs.registration import game_lookup

        definition = game_lookup(game_id)
        game_id = definition.env_id  # the ID resolved (versionless, module: prefix)
        super().__init__(game_id, device, validate, cuda_graph)
        torch = self._torch
        self.definition = definition
        self.params = make_params(definition, game_id, kwargs)
        # The host BatchGame gives shapes, dtypes, spaces and checks num_games.
        host = BatchGame(definition, num_games, self.params, autoreset=True, num_threads=1)
        self.num_games = self.rows = g = host.num_games
        self.num_agents = agents = host.num_agents
        self.num_envs = g * agents
        self.single_observation_space = host.observation_space
        self.single_action_space = host.action_space
        self.max_steps = host.max_steps
        self._discrete = host.discrete
        self._integer_actions = True  # Discrete or MultiDiscrete
        self._nvec = torch.as_tensor(host.nvec).to(self.device)
        parts = len(host.nvec)
        self._action_shape = (g * agents,) if host.discrete else (g * agents, parts)
        self.kernels = T.game_kernels(definition)
        names = ("actions", *GameArrays._fields)
        self._tensors = {
            name: torch.from_numpy(getattr(host, name).view(np.int64) if name == "rng"
                                   else getattr(host, name)).to(self.device)
            for name in names
        }  # fmt: skip
        t = self._tensors
        self.actions = t["actions"].view(g * agents, parts)
        self.state = t["state"]
        self.observations = t["obs"].view(g * agents, -1)
        self.final_obs = t["final_obs"].view(g * agents, -1)
        self.rewards = t["reward"].view(-1)
        self.terminations = t["terminated"].view(-1)
        self.truncations = t["truncated"].view(-1)
        self.was_alive = t["was_alive"].view(-1)
        self.game_over = t["game_over"]
        self._totals = self._zeros((g, 2 + agents), torch.float64)
        self._init_status(parts, torch.int64, g * agents)
        arrays = {
            name: self._array(t[name], np.uint64 if name == "rng" else None) for name in names
        }
        self._actions_array = arrays["actions"]
        self._games = tuple(arrays[name] for name in GameArrays._fields)  # the kernels' order
        self._nvec_array, self._totals_array = self._array(self._nvec), self._array(self._totals)
        self._all_games = self._zeros((g,), torch.bool).fill_(True)
        self.has_reset = False

    def seed(self, seed: Any = None) -> None:
        """Seed game ``g`` from ``seed + g`` (an int), per game (a sequence), or from entropy."""
        streams = np.zeros(self.num_games, dtype=np.uint64)
        seed_rows(streams, np.arange(self.num_games), _seeds(self.label, seed, self.num_games))
        self._tensors["rng"].copy_(self._torch.from_numpy(streams.view(np.int64)))

    def reset(self, seed: Any = None):
        """Start every game anew; returns the observations tensor ``[R, F]``."""
        self._check_open("reset")
        self.check()
        if seed is not None or not self.has_reset:
            self.seed(seed)
        self._restart(self._all_games)
        self.has_reset = True
        return self.observations

    def vs_opponent(self, opponent: Any, seat: int | str = "alternate", seed: int | None = None):
        """The vs-opponent SB3 view of this game on the device
        (:class:`thrust_envs.sb3.device.DeviceVsOpponentVecEnv`; needs stable_baselines3): the
        learner's seat per game, ``opponent`` (a callable on device tensors) in the others."""
        from thrust_envs.sb3.device import DeviceVsOpponentVecEnv

        return DeviceVsOpponentVecEnv(self, opponent, seat, seed)

    def restart(self, games: Any) -> None:
        """Start the games flagged in ``games`` (bool ``[G]`` on the device) anew from their
        own streams, on the device (no host read: a view launches it every step, with the
        flags it computed there); the other games are untouched."""
        self._check_open("restart")
        if not self.has_reset:
            raise RuntimeError(f"{self.label}: call reset() before restart()")
        torch = self._torch
        if (
            not isinstance(games, torch.Tensor)
            or games.dtype != torch.bool
            or tuple(games.shape) != (self.num_games,)
        ):
            raise ValueError(
                f"{self.label}: restart takes a bool tensor of shape ({self.num_games},), got "
                f"{type(games).__name__} {getattr(games, 'dtype', '')} "
                f"{tuple(getattr(games, 'shape', ()))}"
            )
        self._restart(games.to(self.device).contiguous())

    def _restart(self, games: Any) -> None:
        self._launch(self.kernels.reset, *self._games, self._array(games), self.params)

    def step(self, actions: Any):
        """Step every game; returns ``(observations, rewards, terminations, truncations)``,
        the env's own tensors in the ``[R]`` layout (overwritten by the next step)."""
        self._step(actions, self.actions[:, 0] if self._discrete else self.actions)
        return self.observations, self.rewards, self.terminations, self.truncations

    def _launch_step(self) -> None:
        """The step's two kernels on torch's stream, on the loaded actions: their check (live
        agents' actions within ``nvec``), then every game's step."""
        actions, alive = self._actions_array, self._games[GameArrays._fields.index("alive")]
        status, error_action = self._status_args
        self._launch(self.kernels.validate, actions, alive, self._nvec_array, status)
        self._launch(self.kernels.step, *self._games, actions, self.params, True, self.max_steps,
                     status, error_action, self._totals_array)  # fmt: skip

    def _raise(self, bad: int, finished: int, value: Any) -> None:
        game, agent = divmod(bad, self.num_agents)
        shown = int(value[0]) if self._discrete else value.tolist()
        raise InvalidAction(
            f"{self.label}: action {shown} of agent "
            f"{self.definition.agent_names(self.params)[agent]!r} in game {game} (row {bad}) is "
            f"outside {self.single_action_space}; that step and any after it until this error "
            "were not applied"
        )

    def episode_statistics(self) -> EpisodeStatistics:
        """Games finished since the last call: their number, each seat's mean return and the
        mean length (one host read; clears the counts)."""
        episodes, returns, length = self._statistics(self._totals)
        if returns is None:
            returns = [float("nan")] * self.num_agents
        return EpisodeStatistics(episodes, tuple(returns), length)


def make_vec(env_id: str, num_envs: int, device: Any = "cuda", **kwargs: Any):
    """A device batch env for a Thrust ID: :class:`DeviceVecEnv` for a single-agent env,
    :class:`DeviceGameVecEnv` (``num_envs`` games, ``num_envs * A`` rows) for a game."""
    from thrust_envs.registration import game_definitions, resolve_id

    env_id = resolve_id(env_id)  # once: a versionless ID warns once
    if env_id in game_definitions():
        return DeviceGameVecEnv(env_id, num_envs, device, **kwargs)
    return DeviceVecEnv(env_id, num_envs, device, **kwargs)
