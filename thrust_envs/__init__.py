"""thrust_envs: environments written once as numba batch kernels, with every view.

``import thrust_envs`` registers the Thrust IDs with Gymnasium:

>>> import gymnasium as gym, thrust_envs
>>> env = gym.make("Thrust/CartPole-v1")                  # a gymnasium.Env
>>> envs = gym.make_vec("Thrust/CartPole-v1", num_envs=4096)  # the native vector env

and ``thrust_envs.sb3.make_vec_env("Thrust/CartPole-v1", n_envs)`` gives a
Stable-Baselines3 ``VecEnv`` (that module imports stable_baselines3; this one does not).

The core of the package imports numpy, numba and gymnasium only: never torch, SB3 or triton.
"""

from thrust_envs.core.batch import InvalidAction
from thrust_envs.core.definition import EnvDefinition, ParamError, Registration
from thrust_envs.registration import ENV_MODULES, known_ids, register_envs

__version__ = "0.1.0"

register_envs()

__all__ = [
    "ENV_MODULES",
    "EnvDefinition",
    "InvalidAction",
    "ParamError",
    "Registration",
    "__version__",
    "known_ids",
    "register_envs",
]
