"""The SB3 view of a device env: :class:`DeviceSB3VecEnv`, an SB3 ``VecEnv`` over a
:class:`thrust_envs.cuda.DeviceVecEnv` (rows of a single-agent env) or
:class:`thrust_envs.cuda.DeviceGameVecEnv` (a game in the parameter-sharing layout).

Two ways in:

- :meth:`DeviceSB3VecEnv.device_step` (what ``thrust_algos.PPO`` calls): actions as a tensor on
  the env's device in, a :class:`DeviceStep` of device tensors out; no host copy, no
  synchronisation, no info dicts;
- SB3's ``step_async``/``step_wait`` (what any other SB3 code calls): the same step, copied to
  numpy with SB3's infos (``TimeLimit.truncated``, ``terminal_observation``, ``episode``), so
  the view can stand wherever a ``VecEnv`` is expected; each step synchronises. As in the CPU
  views, ``step_async`` checks the actions' dtype and shape and keeps a copy of them.

The rows mean what they mean in the CPU views: a single-agent row is :class:`ThrustVecEnv`'s
row (the device env must reset finished rows in the same step, ``autoreset_mode="SameStep"``),
a game row ``g * A + a`` is :class:`SharedGameVecEnv`'s (an agent dead before its game ends
reads zeros, is done once, and its actions are ignored). :class:`DeviceVsOpponentVecEnv` is
:class:`VsOpponentVecEnv`'s layout on the device (the learner's seat per game, an opponent on
device tensors in the others). Under ``NUMBA_ENABLE_CUDASIM=1`` both ways equal the CPU views
step for step (``tests/cuda_sim_device_ppo.py``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from thrust_envs.core.batch import InvalidAction, step_infos
from thrust_envs.core.game_views import GameError
from thrust_envs.registration import made_spec
from thrust_envs.sb3.base import ParamsRow, ThrustVecEnvBase, fill_episode_infos, monitor_rounded
from thrust_envs.sb3.single import EnvRow
from thrust_envs.sb3.vs_opponent import without_policy_state


class DeviceStep(NamedTuple):
    """One step of a device env in SB3's terms: tensors on the env's device, the env's own
    or made this step (valid until the next step; ``clone()`` what must be kept)."""

    observations: Any  # [N, F] float32: the next observation (a finished row's first, reset)
    rewards: Any  # [N] float32
    dones: Any  # [N] bool: the row's episode ended this step
    time_limit: Any  # [N] bool: ended by the time limit alone (SB3's TimeLimit.truncated)
    terminal_observations: Any  # [N, F]: a done row's last observation, before its reset
    returns: Any  # [N] float64: a done row's episode return
    lengths: Any  # [N] a done row's episode length (float64 or int64)


class DeviceSB3VecEnv(ThrustVecEnvBase):
    """An SB3 ``VecEnv`` over a device env (see the module docstring).

    :param device_env: a :class:`~thrust_envs.cuda.DeviceVecEnv` made with
        ``autoreset_mode="SameStep"``, or a :class:`~thrust_envs.cuda.DeviceGameVecEnv`.
    :param seed: seed of the first reset (row ``i``, or game ``g``, from ``seed + i``), or
        None (entropy, unless ``seed()`` is called).
    :param render_mode: None or ``"rgb_array"``: ``get_images`` draws every row's frame from
        one host copy of the state (a single-agent env's; a game's rows have no frames here,
        as the CPU game view's have none).
    """

    def __init__(
        self, device_env: Any, seed: int | None = None, render_mode: str | None = None
    ) -> None:
        from thrust_envs.cuda import DeviceGameVecEnv, DeviceVecEnv

        if isinstance(device_env, DeviceGameVecEnv):
            self.game = True
        elif isinstance(device_env, DeviceVecEnv):
            if device_env.autoreset_mode != AutoresetMode.SAME_STEP:
                raise ValueError(
                    f"{device_env.label}: an SB3 VecEnv resets finished environments in the "
                    "step that ends them; make the device env with autoreset_mode='SameStep' "
                    f"(got {device_env.autoreset_mode.value})"
                )
            self.game = False
        else:
            raise TypeError(
                "DeviceSB3VecEnv wraps a thrust_envs.cuda DeviceVecEnv or DeviceGameVecEnv, "
                f"got {type(device_env).__name__}"
            )
        self.device_env = device_env
        self.env_id = device_env.label
        self.definition = device_env.definition
        self.device = device_env.device
        if self.game and render_mode is not None:
            raise ValueError(
                f"{device_env.label}: render_mode is not an option of the multi-agent VecEnv "
                "(a game's frames are its PettingZoo view's, thrust_envs.make_parallel)"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"{device_env.label}: render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        self._render_mode = render_mode
        self._actions: Any = None
        self._steps = 0  # device steps taken: dates the lazy infos of DeviceInfos
        self._last: DeviceStep | None = None
        torch = device_env._torch
        if self.game:
            agents = device_env.num_agents
            self._agents = agents
            t = device_env._tensors
            self._length = t["length"]
            self._final_length = t["final_length"]
            self._agent_return = t["agent_return"].view(-1)
            self._final_return = t["final_return"].view(-1)
            # what a dead agent's row reads, made once (not a new device tensor per step)
            self._zero = torch.zeros((), dtype=t["obs"].dtype, device=device_env.device)
        else:
            # episode columns 3 and 4: the length and return of the episode a row just ended
            self._lengths = device_env.episode[:, 3]
            self._returns = device_env.episode[:, 4]
            self._no_limit = device_env.max_episode_steps is None
            if not self._no_limit:
                self.built_in_wrappers = (Monitor, gym.wrappers.TimeLimit)
        self._torch = torch
        super().__init__(
            self._view_rows(),
            device_env.single_observation_space,
            device_env.single_action_space,
        )
        if seed is not None:
            self.seed(seed)

    def _view_rows(self) -> int:
        """How many rows this view has (every row of the device env here)."""
        return int(self.device_env.num_envs)

    @property
    def params(self) -> Any:
        """The env's parameters (a NamedTuple shared by all rows)."""
        return self.device_env.params

    @property
    def has_time_limit(self) -> bool:
        """Whether a row can end by the time limit alone (games: always, at their max steps)."""
        return self.game or not self._no_limit

    def _row(self, index: int) -> ParamsRow | EnvRow:
        """A game's rows show the game's parameters; an env's, what the CPU view's show
        (:class:`~thrust_envs.sb3.single.EnvRow`), but ``set_state``."""
        return ParamsRow(self) if self.game else DeviceEnvRow(self, index)

    def _params_owner(self) -> Any:
        # An env's parameters change as the CPU view's (its step graph is captured anew for
        # new parameters); a game's are fixed, as the CPU game views' are.
        return None if self.game else self.device_env

    @property
    def spec(self) -> Any:
        """The Gymnasium spec ``gym.make`` gives a CPU env of these parameters, time limit and
        render mode, as the CPU view's (a game: its ID's; None for an env made from a
        definition)."""
        env = self.device_env
        if not self.game:
            return made_spec(self.env_id, env.kwargs, env.max_episode_steps, self._render_mode)
        try:
            return gym.spec(self.env_id)
        except gym.error.Error:
            return None

    @property
    def max_episode_steps(self) -> int | None:
        return self.device_env.max_episode_steps

    def _has_reset(self) -> bool:
        return self.device_env.has_reset

    def get_images(self) -> list[np.ndarray | None]:
        """SB3's ``get_images``: every row's frame with ``render_mode="rgb_array"`` (from one
        host copy of the state, not one per row), else Nones."""
        if self._render_mode != "rgb_array":
            return [None] * self.num_envs
        if not self._has_reset():
            raise RuntimeError(f"{self.env_id}: call reset() before render()")
        states = self._host(self.device_env.state)
        return [self.definition.render(state, self.params) for state in states]

    def _row_state(self, index: int) -> np.ndarray:
        """A host copy of row ``index``'s state (waits for the device)."""
        return self._host(self.device_env.state[index])

    # -- the device way ------------------------------------------------------------------------

    def device_reset(self) -> Any:
        """Reset every row (with the seeds of :meth:`seed`, if any); the observations tensor
        ``[N, F]`` (the env's own)."""
        if self._closed:
            self._raise_closed("reset")
        seed = self._seeds[0]
        env = self.device_env
        if self.game:
            self._refuse_game_options()
            obs = env.reset(seed=None if seed is None else int(seed))
        else:
            options = self._options[0] if self._options else {}
            if any(o != options for o in self._options):
                raise ValueError(
                    f"{self.env_id}: reset options must be the same for every environment "
                    "(they share their parameters); pass one dict to set_options"
                )
            # this reset's only, as DummyVecEnv resets a finished env without options
            obs = env.reset(
                seed=None if seed is None else int(seed),
                options=options or None,
                options_persist=False,
            )
        self._reset_seeds()
        self._reset_options()
        self._last = None
        self._step_pending = False
        return obs

    def device_step(self, actions: Any) -> DeviceStep:
        """Step every row with ``actions`` (a tensor on the env's device, or anything
        ``torch.as_tensor`` takes); the step's :class:`DeviceStep`. No host synchronisation:
        bad actions are reported as the device env reports them (lazily, by default)."""
        if self._closed:
            self._raise_closed("step")
        env, torch = self.device_env, self._torch
        obs, rewards, terminated, truncated = env.step(actions)
        self._steps += 1
        if not self.game:
            dones = terminated | truncated
            step = DeviceStep(
                obs,
                rewards,
                dones,
                truncated & ~terminated,
                env.final_obs,
                self._returns,
                self._lengths,
            )
        else:
            agents = self._agents
            game_over = env.game_over
            over = game_over.repeat_interleave(agents)
            was_alive = env.was_alive
            shown = (was_alive | over).unsqueeze(1)
            dones = was_alive & (terminated | truncated)
            step = DeviceStep(
                torch.where(shown, obs, self._zero),
                rewards.to(torch.float32),
                dones,
                dones & truncated & ~terminated,
                torch.where(over.unsqueeze(1), env.final_obs, obs),
                torch.where(over, self._final_return, self._agent_return),
                torch.where(game_over, self._final_length, self._length).repeat_interleave(agents),
            )
        self._last = step
        return step

    def episode_infos(self, returns: np.ndarray, lengths: np.ndarray) -> list[dict[str, Any]]:
        """SB3 ``Monitor``'s ``info["episode"]`` dicts for finished episodes, from host arrays
        of their returns and lengths: what ``ep_info_buffer`` holds."""
        elapsed = self._elapsed()
        return [
            {"r": r, "l": length, "t": elapsed}
            for r, length in zip(
                monitor_rounded(returns), np.asarray(lengths).astype(np.int64).tolist(), strict=True
            )
        ]

    def _host(self, tensor: Any) -> np.ndarray:
        """A host copy of ``tensor`` (``.cpu()`` alone would hand out the env's own memory on
        CPU tensors, which the next step overwrites)."""
        return tensor.detach().to("cpu", copy=True).numpy()

    def infos_of(self, step: DeviceStep) -> list[dict[str, Any]]:
        """SB3's infos of ``step`` (which must be the last step taken): one host copy."""
        dones = step.dones.cpu().numpy()
        infos = step_infos(self.num_envs)
        rows = np.flatnonzero(dones)
        if rows.size:
            index = self._torch.as_tensor(rows, device=self.device)
            terminal = step.terminal_observations[index].cpu().numpy()
            terminal = terminal.astype(self.observation_space.dtype, copy=False)
            fill_episode_infos(
                infos,
                rows.tolist(),
                terminal,
                step.returns[index].cpu().numpy().astype(np.float64),
                step.lengths[index].cpu().numpy().astype(np.int64).tolist(),
                step.time_limit[index].cpu().numpy().tolist(),
                self._elapsed(),
            )
        return infos

    # -- SB3's way -----------------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        obs = self.device_reset()
        return self._host(obs).astype(self.observation_space.dtype, copy=False)

    def step_async(self, actions: np.ndarray) -> None:
        """Check ``actions`` (dtype and shape; their values the step checks) and keep a copy
        of them, as the CPU views do, for :meth:`step_wait`."""
        if self._closed:
            self._raise_closed("step_async")
        env = self.device_env
        if not env.has_reset:
            error = GameError if self.game else RuntimeError
            raise error(f"{self.env_id}: call reset() before stepping")
        checked = self._checked_step_actions(actions)
        self._actions = checked.to(self.device, copy=True)  # the caller may reuse its array
        self._step_pending = True

    def _checked_step_actions(self, actions: Any) -> Any:
        """``step_async``'s actions as a tensor, dtype and shape checked (InvalidAction)."""
        return self.device_env.check_actions(actions)

    def step_wait(self) -> VecEnvStepReturn:
        self._take_pending_step()
        actions, self._actions = self._actions, None
        step = self.device_step(actions)
        self.device_env.check()  # this way synchronises anyway: raise a bad step's error now
        obs = self._host(step.observations).astype(self.observation_space.dtype, copy=False)
        return obs, self._host(step.rewards), self._host(step.dones), self.infos_of(step)

    def close(self) -> None:
        closed, self._closed = self._closed, True
        if not closed:
            self.device_env.close()  # may raise a pending error: the view is closed anyway


class DeviceEnvRow(EnvRow):
    """A device env's row for ``get_attr``/``env_method``: the CPU view's row, read from a
    host copy; its state is written on the device by the kernels alone."""

    def set_state(self, state: np.ndarray) -> np.ndarray:
        raise AttributeError(
            f"{self._venv.env_id}: set_state writes a CPU view's state; a device env's state "
            "is the kernels' (reset it, with reset options, instead)"
        )


class DeviceInfos:
    """SB3's infos of one device step, built on first use (one host copy) and only while that
    step is the env's last: what a callback finds in ``locals["infos"]`` on the device rollout,
    so that callbacks which never read them cost no synchronisation."""

    def __init__(self, venv: DeviceSB3VecEnv, step: DeviceStep) -> None:
        self._venv = venv
        self._step = step
        self._date = venv._steps
        self._infos: list[dict[str, Any]] | None = None

    def _built(self) -> list[dict[str, Any]]:
        if self._infos is None:
            if self._venv._steps != self._date:
                raise RuntimeError(
                    "the infos of a device rollout step are built from the env's buffers, "
                    "which the next step overwrote: read them during that step's callback"
                )
            self._infos = self._venv.infos_of(self._step)
        return self._infos

    def __len__(self) -> int:
        return self._venv.num_envs

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __iter__(self):
        return iter(self._built())


class DeviceVsOpponentVecEnv(DeviceSB3VecEnv):
    """The vs-opponent view of a device game, on the device: row ``g`` is the learner's seat in
    game ``g`` while ``opponent`` plays every other seat, as
    :class:`~thrust_envs.sb3.VsOpponentVecEnv` does on the CPU (same rows, rewards, episodes and
    infos, ``seat`` and ``opponent`` included; equal step for step under the CUDA simulator).

    ``opponent``: a callable from the observations of the seat it plays in every game (float32
    ``[G, F]`` on the device) to its actions there (integer ``[G]``, or ``[G, K]`` for
    MultiDiscrete, on the device), such as a device policy; it is called once per step per
    other seat, on all games at once, and nothing is read back. ``seat``: an agent index, or
    ``"alternate"`` (game ``g`` starts in seat ``g % A`` and moves on after each episode).
    ``"random"`` seats and ``set_opponent`` (a swap at each game's episode boundary) need the
    host to know where episodes end each step, so they stay the CPU view's. An episode ends when
    the game ends or the learner dies (its game then restarts, on the device).

    :param device_game: a :class:`~thrust_envs.cuda.DeviceGameVecEnv` (at least two seats).
    :param seed: seed of the first reset (game ``g`` from ``seed + g``), or None.
    """

    def __init__(
        self,
        device_game: Any,
        opponent: Any,
        seat: int | str = "alternate",
        seed: int | None = None,
    ) -> None:
        from thrust_envs.cuda import DeviceGameVecEnv

        if not isinstance(device_game, DeviceGameVecEnv):
            raise TypeError(
                "DeviceVsOpponentVecEnv plays a thrust_envs.cuda DeviceGameVecEnv, got "
                f"{type(device_game).__name__}"
            )
        label, agents = device_game.label, device_game.num_agents
        if agents < 2:
            raise ValueError(f"{label}: vs_opponent needs a game with at least two seats")
        if not callable(opponent):
            raise TypeError(
                f"{label}: the device opponent must be a callable from observations [G, F] to "
                "integer actions [G] on the device (or a tuple whose first item they are), "
                f"got {opponent!r}"
            )
        torch = device_game._torch
        games = device_game.num_games
        rows = torch.arange(games, device=device_game.device)
        if isinstance(seat, (int, np.integer)) and not isinstance(seat, bool):
            if not 0 <= seat < agents:
                raise ValueError(
                    f"{label}: seat must be in [0, {agents}) or 'alternate', got {seat}"
                )
            seats = torch.full((games,), int(seat), dtype=torch.int64, device=rows.device)
        elif seat == "alternate":
            seats = rows % agents
        elif seat == "random":
            raise ValueError(
                f"{label}: seat='random' draws seats on the host at every episode's end; the "
                "device view takes an agent index or 'alternate' (thrust_envs.vs_opponent "
                "offers 'random' on the CPU)"
            )
        else:
            raise ValueError(f"{label}: seat must be an agent index or 'alternate', got {seat!r}")
        self._opponent = opponent
        self._seat_mode = seat
        self._games = rows
        self._first_seats = seats
        self._seat = seats
        self._step_seat = seats
        discrete = device_game._discrete
        self._action_tail: tuple[int, ...] = () if discrete else (device_game.actions.shape[1],)
        self._full_actions = torch.zeros(
            (games, agents, *self._action_tail), dtype=torch.int64, device=rows.device
        )
        super().__init__(device_game, seed)

    def _view_rows(self) -> int:
        return int(self.device_env.num_games)

    @property
    def seats(self) -> Any:
        """The learner's current seat in each game (int64 ``[G]`` on the device)."""
        return self._seat.clone()

    def device_reset(self) -> Any:
        """Reset every game; the learner's observations ``[G, F]`` (a new tensor)."""
        super().device_reset()
        # Every game starts a new episode: the seats start over, as in a fresh view.
        self._seat = self._step_seat = self._first_seats
        t = self.device_env._tensors
        return t["obs"][self._games, self._seat]

    def device_step(self, actions: Any) -> DeviceStep:
        """Step every game with the learner's ``actions`` (integer ``[G]`` or ``[G, K]`` on the
        device) and the opponent's; the learner's rows of the step (see the class)."""
        if self._closed:
            self._raise_closed("step")
        env, torch = self.device_env, self._torch
        games, seat = self._games, self._seat
        shape = (self.num_envs, *self._action_tail)
        full = self._full_actions
        full[games, seat] = self._checked(actions, shape, "the learner")
        t = env._tensors
        obs = t["obs"]
        agents = env.num_agents
        with torch.no_grad():
            for k in range(1, agents):
                other = (seat + k) % agents
                # SB3's (actions, state) as the CPU view takes it (a recurrent state is an
                # error); of any other tuple, such as a policy module's forward (actions,
                # values, log_probs), the first item. A list is the actions themselves.
                answer = without_policy_state(self.env_id, self._opponent(obs[games, other]))
                if isinstance(answer, tuple):
                    answer = answer[0]
                full[games, other] = self._checked(answer, shape, "the opponent")
        env.step(full.view(env.num_envs, *self._action_tail))
        self._steps += 1
        # A step the device env refused changed nothing in the game, and its flags are the
        # last step's: nothing below may act on them (known on the device, not read back).
        status = env.status
        applied = (status[0] == env.num_envs) & (status[1] == env.num_envs)
        over = t["game_over"] & applied
        terminated, truncated = t["terminated"], t["truncated"]
        learner_terminated = terminated[games, seat]
        dead = ~over & learner_terminated & applied
        # A learner that died while its game goes on ends its episode: keep the game's final
        # observation, returns and length aside, then restart the game (as the CPU view).
        t["final_obs"].copy_(torch.where(dead.view(-1, 1, 1), obs, t["final_obs"]))
        t["final_return"].copy_(torch.where(dead.view(-1, 1), t["agent_return"], t["final_return"]))
        t["final_length"].copy_(torch.where(dead, t["length"], t["final_length"]))
        env.restart(dead)
        ended = over | dead
        self._step_seat = seat
        if self._seat_mode == "alternate":
            self._seat = torch.where(ended, (seat + 1) % agents, seat)
        step = DeviceStep(
            obs[games, self._seat],
            t["reward"][games, seat].to(torch.float32),
            ended,
            ended & truncated[games, seat] & ~learner_terminated,
            t["final_obs"][games, seat],
            t["final_return"][games, seat],
            t["final_length"],
        )
        self._last = step
        return step

    def _checked_step_actions(self, actions: Any) -> Any:
        return self._checked(actions, (self.num_envs, *self._action_tail), "the learner")

    def _checked(self, actions: Any, shape: tuple[int, ...], who: str) -> Any:
        """``actions`` as an int64 tensor of ``shape`` on the device, or InvalidAction naming
        ``who`` (dtype and shape are read on the host; values are the device env's check)."""
        torch = self._torch
        if not isinstance(actions, torch.Tensor):
            try:
                actions = torch.as_tensor(np.asarray(actions))
            except (TypeError, ValueError, RuntimeError) as error:
                raise InvalidAction(
                    f"{self.env_id}: {who} gave a {type(actions).__name__} ({error}); expected "
                    f"integers of shape {shape} on {self.device}"
                ) from None
        if (
            actions.dtype.is_floating_point
            or actions.dtype.is_complex
            or actions.dtype == torch.bool
        ):
            raise InvalidAction(
                f"{self.env_id}: {who} gave actions of dtype {actions.dtype}; expected integers "
                f"of shape {shape}"
            )
        if tuple(actions.shape) != shape:
            raise InvalidAction(
                f"{self.env_id}: {who} gave actions of shape {tuple(actions.shape)}; expected "
                f"integers of shape {shape}"
            )
        return actions.to(device=self.device, dtype=torch.int64)

    def infos_of(self, step: DeviceStep) -> list[dict[str, Any]]:
        """SB3's infos of ``step``, with ``seat`` and ``opponent`` (always 0: one opponent) for
        the finished episodes, as the CPU view writes them."""
        infos = super().infos_of(step)
        seats = self._step_seat.cpu().numpy()
        for g, info in enumerate(infos):
            if "episode" in info:
                info["seat"] = int(seats[g])
                info["opponent"] = 0
        return infos
