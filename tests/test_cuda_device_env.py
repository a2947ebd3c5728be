"""thrust_envs.cuda's device envs: under numba's CUDA simulator on CPU tensors (a subprocess,
tests/cuda_sim_device_env.py) equal to the CPU views step by step with the same errors; and,
without a GPU, clear errors instead of a device env."""

from __future__ import annotations

import re

import pytest
from cuda_sim import run_under_simulator

pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")
torch = pytest.importorskip("torch")


def test_device_envs_equal_cpu_views_under_simulator():
    lines = run_under_simulator("cuda_sim_device_env.py")
    assert len(lines) == 5, lines


def test_gymnasium_make_vec_on_a_device_equals_the_cpu_view_under_simulator():
    lines = run_under_simulator("cuda_sim_gym_vector.py")
    assert len(lines) == 9, lines
    assert sum("steps equal to the CPU view" in line for line in lines) == 4, lines


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_without_cuda_the_device_env_says_why():
    import gymnasium as gym

    from thrust_envs.cuda import make_vec

    with pytest.raises(RuntimeError, match="CUDA is not available to torch"):
        make_vec("Thrust/CartPole-v1", 4)
    with pytest.raises(ValueError, match="runs on a CUDA device"):
        make_vec("Thrust/CartPole-v1", 4, device="cpu")
    with pytest.raises(ValueError, match="unknown environment"):
        make_vec("Thrust/Nope-v0", 4)
    with pytest.raises(RuntimeError, match="CartPole: CUDA is not available to torch"):
        gym.make_vec("Thrust/CartPole-v1", num_envs=4, device="cuda")
    with pytest.raises(ValueError, match="CartPole: a device env runs on a CUDA device"):
        gym.make_vec("Thrust/CartPole-v1", num_envs=4, device="cpu")
    assert type(gym.make_vec("Thrust/CartPole-v1", num_envs=4, device=None)).__name__ == (
        "CartPoleVectorEnv"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_without_cuda_sb3_make_vec_env_on_a_device_says_why():
    pytest.importorskip("stable_baselines3")
    from thrust_envs.sb3 import ThrustVecEnv, make_vec_env

    with pytest.raises(RuntimeError, match="Thrust/CartPole-v1: CUDA is not available to torch"):
        make_vec_env("Thrust/CartPole-v1", 4, device="cuda")
    with pytest.raises(RuntimeError, match="Thrust/Pong-v0: CUDA is not available to torch"):
        make_vec_env("Thrust/Pong-v0", 4, device="cuda")
    with pytest.raises(ValueError, match="a device env runs on a CUDA device"):
        make_vec_env("Thrust/CartPole-v1", 4, device="cpu")
    assert type(make_vec_env("Thrust/CartPole-v1", 4, device=None)) is ThrustVecEnv


def _random_actions(env, generator):
    """Valid random actions for every row of ``env``, on its device."""
    from gymnasium import spaces

    space, rows = env.single_action_space, env.num_envs
    if isinstance(space, spaces.Discrete):
        low = int(space.start)
        return torch.randint(low, low + int(space.n), (rows,), generator=generator,
                             device=env.device)  # fmt: skip
    low = torch.as_tensor(space.low, device=env.device)
    high = torch.as_tensor(space.high, device=env.device)
    noise = torch.rand((rows, *space.shape), generator=generator, device=env.device)
    return low + noise * (high - low)


def _same(graphed, launched) -> None:
    for name in ("observations", "rewards", "terminations", "truncations", "final_obs", "state"):
        assert torch.equal(getattr(graphed, name), getattr(launched, name)), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("Thrust/CartPole-v1", {"autoreset_mode": "SameStep", "max_episode_steps": 40}),
        ("Thrust/CartPole-v1", {"autoreset_mode": "NextStep"}),
        ("Thrust/Pendulum-v1", {"autoreset_mode": "SameStep", "max_episode_steps": 30}),
        ("Thrust/Pong-v0", {}),
    ],
)
def test_cuda_graph_steps_equal_the_launched_kernels(env_id, kwargs) -> None:
    """On a GPU a step replayed from the CUDA graph is the launched kernels' step: every tensor
    equal after each of 300 random steps with resets; reset options that change the params
    (Pendulum's) capture anew and still agree; a bad action raises the same error from both
    and changes nothing."""
    from thrust_envs.core.batch import InvalidAction
    from thrust_envs.cuda import make_vec

    graphed = make_vec(env_id, 256, **kwargs)
    launched = make_vec(env_id, 256, cuda_graph=False, **kwargs)
    graphed.reset(seed=0)
    launched.reset(seed=0)
    assert graphed.step_path == "kernels: captured at the next step"
    assert launched.step_path == "kernels: cuda_graph=False"
    generator = torch.Generator(device="cuda").manual_seed(0)
    for step in range(300):
        if step == 150 and env_id == "Thrust/Pendulum-v1":
            options = {"x_init": 0.5, "y_init": 0.25}
            graphed.reset(seed=1, options=options)
            launched.reset(seed=1, options=options)
            assert graphed.step_path.startswith("kernels"), graphed.step_path  # params moved
        actions = _random_actions(graphed, generator)
        graphed.step(actions)
        launched.step(actions)
        _same(graphed, launched)
        if step >= 1:
            assert graphed.step_path == "CUDA graph", (step, graphed.step_path)
    assert graphed.episode_statistics() == launched.episode_statistics()
    bad = _random_actions(graphed, generator)
    bad[3] = 7 if bad.dtype == torch.int64 else float("nan")  # outside the space, or NaN
    messages = []
    for env in (graphed, launched):
        before = env.state.clone()
        env.step(bad)
        with pytest.raises(InvalidAction) as caught:
            env.check()
        assert torch.equal(env.state, before), "a bad step changed the state"
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    graphed.step(_random_actions(graphed, generator))  # stepping works again after the error


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("env_id", ["Thrust/CartPole-v1", "Thrust/Pong-v0"])
def test_a_step_captured_in_a_callers_graph_is_the_launched_step(env_id) -> None:
    """A caller's CUDA graph holding ``env.step(actions)`` (as a whole rollout step would):
    each replay steps as the launched kernels do, and a bad action replayed is raised by
    ``check()`` after it, the state unchanged."""
    from thrust_envs.core.batch import InvalidAction
    from thrust_envs.cuda import make_vec
    from thrust_envs.graph_capture import capture

    captured = make_vec(env_id, 256, autoreset_mode="SameStep", max_episode_steps=40)
    launched = make_vec(env_id, 256, cuda_graph=False, autoreset_mode="SameStep",
                        max_episode_steps=40)  # fmt: skip
    generator = torch.Generator(device="cuda").manual_seed(0)
    captured.reset(seed=0)
    launched.reset(seed=0)
    actions = _random_actions(captured, generator)
    for _ in range(2):  # the kernels loaded (and the env's own graph made) outside the capture
        captured.step(actions)
        launched.step(actions)
    graph = torch.cuda.CUDAGraph()
    capture(graph, lambda: captured.step(actions), captured.device)  # recorded, not run
    _same(captured, launched)
    for _ in range(100):
        actions.copy_(_random_actions(captured, generator))
        graph.replay()
        launched.step(actions)
        _same(captured, launched)
    captured.check()  # nothing bad so far
    before = captured.state.clone()
    actions[3] = 7 if actions.dtype == torch.int64 else float("nan")
    graph.replay()
    with pytest.raises(InvalidAction):
        captured.check()
    assert torch.equal(captured.state, before), "a bad step changed the state"
    captured.step(_random_actions(captured, generator))  # stepping works again after the error


class _FakeCuda:
    """The ``torch.cuda`` calls a step's graph makes, recording what each step does (a launch,
    a launch during a capture: recorded, not run; a capture; a replay) and which stream is
    current. ``fail``: the capture raises on entry ("enter"), or at its end ("end": as torch's
    ``graph.__exit__`` does when it refuses to end a capture, leaving the capture open and its
    stream current), or records nothing ("empty", with torch's warning)."""

    def __init__(self, monkeypatch, fail: str | None = None, outer_capture: bool = False) -> None:
        import contextlib
        import warnings

        self.log: list[str] = []
        self.warn_on_launch = False  # a launch warns, as numba does of small grids
        self.current = "caller's stream"
        self.capturing = False
        self.outer_capture = outer_capture  # a caller's capture is open
        fake = self

        class Graph:
            def replay(self) -> None:
                fake.log.append("replay")

            def capture_end(self) -> None:
                fake.log.append("capture ended")
                fake.capturing = False

        @contextlib.contextmanager
        def graph(_graph, stream, capture_error_mode: str):
            assert capture_error_mode == "thread_local"
            if fail == "enter":
                raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
            fake.log.append("capture")
            fake.current, fake.capturing = stream, True
            yield
            if fail == "end":
                raise RuntimeError("Capture must end on the same stream it began on.")
            fake.capturing = False
            if fail == "empty":
                message = "The CUDA Graph is empty. This usually means ..."
                warnings.warn(message, UserWarning, stacklevel=2)
            fake.current = "caller's stream"

        def set_stream(stream) -> None:
            fake.current = stream

        cuda = torch.cuda
        monkeypatch.setattr(cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(cuda, "graph", graph)
        monkeypatch.setattr(cuda, "Stream", lambda device: "capture stream")
        monkeypatch.setattr(cuda, "current_stream", lambda device=None: fake.current)
        monkeypatch.setattr(cuda, "set_stream", set_stream)
        monkeypatch.setattr(cuda, "device", lambda device: contextlib.nullcontext())
        monkeypatch.setattr(cuda, "stream", lambda stream: contextlib.nullcontext())
        monkeypatch.setattr(
            cuda, "is_current_stream_capturing", lambda: fake.outer_capture or fake.capturing
        )

    def launch(self) -> None:
        import warnings

        self.log.append("launch, captured" if self.capturing else "launch")
        if not self.warn_on_launch:
            return
        message = "numba: grid size 1 will likely result in GPU under-utilization"
        warnings.warn(message, UserWarning, stacklevel=2)


def _graph_env(monkeypatch, fake: _FakeCuda):
    """A device env's step-kernel state as on CUDA, its launches recorded by ``fake``."""
    from thrust_envs.cuda import vec_env
    from thrust_envs.cuda.vec_env import DeviceVecEnv, _DeviceBatch

    monkeypatch.setattr(vec_env, "_resolve_device", lambda label, device: device)
    env = DeviceVecEnv.__new__(DeviceVecEnv)
    _DeviceBatch.__init__(env, "Thrust/CartPole-v1", torch.device("cpu"), "lazy", True)
    env._cuda, env.params = True, ("params", 1)
    env._launch_step = fake.launch
    return env


def _run_step_kernels(env) -> None:
    """The step's kernels, told whether a capture is open, as ``step`` tells them."""
    env._step_kernels(torch.cuda.is_current_stream_capturing())


def _steps(env, fake: _FakeCuda, params_each_step: list) -> list:
    steps = []
    for params in params_each_step:
        env.params = params
        fake.log.clear()
        _run_step_kernels(env)
        steps.append((tuple(fake.log), env.step_path))
    return steps


def test_the_step_graph_is_captured_once_and_replayed(monkeypatch) -> None:
    fake = _FakeCuda(monkeypatch)
    fake.warn_on_launch = True
    env = _graph_env(monkeypatch, fake)
    with pytest.warns(UserWarning, match="under-utilization"):  # re-issued after a capture
        steps = _steps(env, fake, [("params", 1)] * 4 + [("params", 2)] * 2)
    assert steps == [
        (("launch",), "kernels: captured at the next step"),  # the kernels load first
        (("capture", "launch, captured", "replay"), "CUDA graph"),
        (("replay",), "CUDA graph"),
        (("replay",), "CUDA graph"),
        (("capture", "launch, captured", "replay"), "CUDA graph"),  # new params: captured anew
        (("replay",), "CUDA graph"),
    ]
    assert fake.current == "caller's stream"


def test_inside_a_callers_capture_the_kernels_are_launched(monkeypatch) -> None:
    fake = _FakeCuda(monkeypatch, outer_capture=True)
    env = _graph_env(monkeypatch, fake)
    steps = _steps(env, fake, [("params", 1)] * 3)
    assert [log for log, _ in steps] == [("launch",)] * 3  # into the caller's capture


def test_a_step_inside_a_callers_capture_neither_polls_nor_queues_a_copy(monkeypatch) -> None:
    """Inside a caller's capture the host may not query an event recorded there, nor wait:
    the step launches its kernels and leaves the status on the device; ``check()`` refuses to
    run inside the capture, and after it queues the copy the replays need."""
    fake = _FakeCuda(monkeypatch, outer_capture=True)
    env = _graph_env(monkeypatch, fake)
    env.has_reset = True
    monkeypatch.setattr(env, "_load_actions", lambda actions, target: fake.log.append("load"))
    monkeypatch.setattr(env, "_poll", lambda: fake.log.append("poll"))
    monkeypatch.setattr(env, "_queue_status_copy", lambda: fake.log.append("status copy"))
    env._step(None, None)
    assert fake.log == ["load", "launch"]
    with pytest.raises(RuntimeError, match="CUDA-graph capture forbids"):
        env.check()
    fake.outer_capture = False
    fake.log.clear()
    env.check()
    env.check()
    assert fake.log == ["status copy"] * 2  # each check: the graph may have replayed since
    fake.log.clear()
    env._step(None, None)  # outside a capture: polled, then the copy queued
    assert fake.log == ["poll", "load", "launch", "status copy"]


@pytest.mark.parametrize("fail", ["enter", "end", "empty"])
def test_a_failed_step_capture_warns_and_launches_from_then_on(monkeypatch, fail) -> None:
    fake = _FakeCuda(monkeypatch, fail)
    env = _graph_env(monkeypatch, fake)
    _run_step_kernels(env)
    fake.log.clear()
    with pytest.warns(RuntimeWarning, match="capturing the step's kernels in a CUDA graph failed"):
        _run_step_kernels(env)
    # A capture that raised ran nothing: this step's kernels are launched, on the caller's
    # stream (a capture left open is ended first). One that recorded nothing ran them
    # elsewhere: they are not launched twice.
    expected = {
        "enter": ["launch"],
        "end": ["capture", "launch, captured", "capture ended", "launch"],
        "empty": ["capture", "launch, captured"],
    }
    assert fake.log == expected[fail]
    assert fake.current == "caller's stream"
    fake.log.clear()
    _run_step_kernels(env)
    assert fake.log == ["launch"]
    assert env.step_path == "kernels: capturing them in a CUDA graph failed (warned)"


def test_a_warning_made_an_error_does_not_hide_an_empty_capture(monkeypatch) -> None:
    """The caller's filters apply to the warnings a capture recorded only after a capture
    that worked: here an empty one (the kernels ran, on another stream) with a launch warning
    the caller made an error must still read as empty, so the kernels are not run twice."""
    import warnings

    fake = _FakeCuda(monkeypatch, "empty")
    fake.warn_on_launch = True
    env = _graph_env(monkeypatch, fake)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run_step_kernels(env)  # the first, eager launch loads the kernels
        warnings.filterwarnings("error", message="numba: grid size")
        with pytest.raises(UserWarning, match="grid size"):
            env._launch_step()  # an eager launch: the caller's filter applies
        fake.log.clear()
        _run_step_kernels(env)
    assert fake.log == ["capture", "launch, captured"]
    assert any("CUDA graph failed" in str(w.message) for w in caught)
    assert env.step_path == "kernels: capturing them in a CUDA graph failed (warned)"


def test_a_first_launch_that_raised_is_not_followed_by_a_capture(monkeypatch) -> None:
    """Kernels count as loaded once a launch ran: after a first launch that raised (here the
    caller's filter made numba's launch warning an error), the next step launches again
    rather than capture kernels that may never have been loaded (a load cannot be captured)."""
    import warnings

    fake = _FakeCuda(monkeypatch, "empty")
    fake.warn_on_launch = True
    env = _graph_env(monkeypatch, fake)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="numba: grid size")
        with pytest.raises(UserWarning, match="grid size"):
            _run_step_kernels(env)
    fake.log.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run_step_kernels(env)
    assert "capture" not in fake.log and fake.log, fake.log
    assert env.step_path == "kernels: captured at the next step"


def test_capture_refuses_what_is_not_a_graph_or_not_callable() -> None:
    from thrust_envs.graph_capture import capture

    expected = re.escape("graph must be a torch.cuda.CUDAGraph, got <class 'str'>")
    with pytest.raises(TypeError, match=expected):
        capture("graph", lambda: None, torch.device("cuda"))
    with pytest.raises(TypeError, match="work must be callable"):
        capture("graph", 5, torch.device("cuda"))  # checked first
