"""The distribution's shape: packages that import alone, and a torch-free thrust_envs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gymnasium as gym
import pytest

import thrust_envs


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_thrust_envs_does_not_import_torch_sb3_or_triton():
    out = run_python(
        """
        import sys
        import thrust_envs, thrust_envs.env_classes
        import gymnasium as gym
        env = gym.make("Thrust/CartPole-v1")
        env.reset(seed=0)
        env.step(0)
        vec = gym.make_vec("Thrust/CartPole-v1", num_envs=4)
        vec.reset(seed=0)
        vec.step(vec.action_space.sample())
        heavy = sorted(m for m in ("torch", "stable_baselines3", "triton") if m in sys.modules)
        print(",".join(heavy) or "none")
        """
    )
    assert out.strip() == "none"


@pytest.mark.parametrize(
    "package", ["thrust_envs", "thrust_algos", "thrust_population", "thrust_export"]
)
def test_each_package_imports_alone_with_a_docstring(package):
    out = run_python(
        f"""
        import {package}
        print(len({package}.__doc__ or ""))
        """
    )
    assert int(out) > 100


def test_make_with_module_prefix_needs_no_prior_import():
    out = run_python(
        """
        import gymnasium as gym
        env = gym.make("thrust_envs:Thrust/CartPole-v1")
        print(type(env.unwrapped).__name__, env.spec.max_episode_steps)
        """
    )
    assert out.split() == ["CartPoleEnv", "500"]


def test_versionless_id_resolves_to_v1():
    env = gym.make("Thrust/CartPole")
    assert env.spec.id == "Thrust/CartPole-v1"
    assert env.spec.max_episode_steps == 500
    assert env.spec.reward_threshold == 475.0
    v0 = gym.spec("Thrust/CartPole-v0")
    assert (v0.max_episode_steps, v0.reward_threshold) == (200, 195.0)


def test_every_view_takes_the_ids_gym_make_takes():
    """Versionless IDs and a ``module:`` prefix name the same env in every view as in
    ``gym.make`` (with Gymnasium's warning for the versionless ones)."""
    import thrust_envs.sb3

    with pytest.warns(UserWarning, match="Using the latest versioned environment"):
        vec = thrust_envs.sb3.make_vec_env("Thrust/CartPole", 2)
    assert vec.get_attr("spec")[0].id == "Thrust/CartPole-v1"
    assert vec.get_attr("max_episode_steps")[0] == 500
    vec = thrust_envs.sb3.make_vec_env("thrust_envs:Thrust/Pendulum-v1", 2)
    assert vec.get_attr("spec")[0].id == "Thrust/Pendulum-v1"
    with pytest.warns(UserWarning, match="Using the latest versioned environment"):
        game = thrust_envs.make_parallel("Thrust/Pong")
    assert game.metadata["name"] == thrust_envs.make_parallel("Thrust/Pong-v0").metadata["name"]
    with pytest.raises(ValueError, match="unknown environment 'Thrust/CartPole-v9'"):
        thrust_envs.sb3.make_vec_env("Thrust/CartPole-v9", 2)
    with pytest.raises(ValueError, match="unknown multi-agent game 'Thrust/Snake-v7'"):
        thrust_envs.make_parallel("Thrust/Snake-v7")


def test_registered_ids_have_vector_entry_points():
    for env_id in thrust_envs.known_ids():
        spec = gym.spec(env_id)
        assert spec.vector_entry_point is not None
        vec = gym.make_vec(env_id, num_envs=2)
        assert type(vec.unwrapped).__name__.endswith("VectorEnv")


def test_py_typed_markers_ship():
    import importlib.resources

    for package in ("thrust_envs", "thrust_algos", "thrust_population", "thrust_export"):
        assert importlib.resources.files(package).joinpath("py.typed").is_file()


def test_every_source_folder_is_a_regular_package():
    """setuptools' find_packages skips folders without __init__.py: a wheel would lack them."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for package in ("thrust_envs", "thrust_algos", "thrust_population", "thrust_export"):
        for folder in [root / package, *(p for p in (root / package).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__" or not any(folder.glob("*.py")):
                continue
            assert (folder / "__init__.py").is_file(), f"{folder} has no __init__.py"
