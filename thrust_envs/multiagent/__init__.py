"""Multi-agent games on the Thrust engine, with PettingZoo's module conventions.

>>> from thrust_envs.multiagent import pong_v0
>>> env = pong_v0.parallel_env()     # PettingZoo ParallelEnv
>>> aec = pong_v0.env()              # PettingZoo AEC env (CheckedParallelToAEC)

The AEC env is ``game_views.CheckedParallelToAEC`` inside PettingZoo's ``OrderEnforcingWrapper``:
PettingZoo's ``parallel_to_aec`` wrapper, subclassed to check each action at its agent's own
turn (PettingZoo's checks none until the last agent's turn steps the game).

Each game is one file (``pong.py``) holding its rules as numba row functions over a batch of
games; the views are shared by all games: PettingZoo's in ``thrust_envs.core.game_views``,
the SB3 VecEnvs (parameter sharing, vs-opponent, free-for-all) in ``thrust_envs.sb3``.
"""
