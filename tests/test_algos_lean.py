"""thrust_algos.lean: the hand-written PPO backward against autograd of SB3's own loss, the lean
rollout forward against ``policy.forward``, and thrust_algos.PPO on the lean path against stock
SB3 and its fallbacks."""

from __future__ import annotations

import copy
import itertools
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import RolloutBufferSamples
from test_algos_ppo import FIELDS, LOSSES, run
from torch.nn import functional as F
from torch_threads import one_torch_thread as one_torch_thread

import thrust_algos
from thrust_algos.lean import LeanActorCritic, enable_fused_adam
from thrust_algos.lean_adam import LeanAdam


def make_policy(
    obs_shape: tuple[int, ...], action_space: gym.Space, seed: int = 0, **kwargs
) -> ActorCriticPolicy:
    """An SB3 MlpPolicy with its weights moved off the orthogonal initialisation."""
    th.manual_seed(seed)
    observation_space = gym.spaces.Box(-5.0, 5.0, obs_shape, dtype=np.float32)
    policy = ActorCriticPolicy(observation_space, action_space, lambda _: 1e-3, **kwargs)
    with th.no_grad():
        for param in policy.parameters():
            param.add_(0.3 * th.randn_like(param))
    return policy


def minibatch(policy: ActorCriticPolicy, size: int, seed: int) -> RolloutBufferSamples:
    """A minibatch as the rollout buffer hands it out (actions as floats, ``(B, action_dim)``),
    with old log-probabilities and values near the current ones so that some ratios and values
    fall inside the clip ranges and some outside."""
    generator = th.Generator().manual_seed(seed)
    observations = 2 * th.randn(size, *policy.observation_space.shape, generator=generator)
    if isinstance(policy.action_space, gym.spaces.Discrete):
        n = int(policy.action_space.n)
        actions = th.randint(0, n, (size, 1), generator=generator).float()
        evaluated = actions.long().flatten()
    else:
        actions = th.randn(size, int(np.prod(policy.action_space.shape)), generator=generator)
        evaluated = actions
    with th.no_grad():
        values, log_prob, _ = policy.evaluate_actions(observations, evaluated)
    noise = th.randn(4, size, generator=generator)
    return RolloutBufferSamples(
        observations=observations,
        actions=actions,
        old_values=values.flatten() + 0.1 * noise[0],
        old_log_prob=log_prob + 0.3 * noise[1],
        advantages=noise[2],
        returns=values.flatten() + noise[3],
    )


def sb3_loss(
    policy: ActorCriticPolicy,
    rollout_data: RolloutBufferSamples,
    clip_range: float,
    clip_range_vf: float | None,
    ent_coef: float,
    vf_coef: float,
    normalize_advantage: bool,
) -> dict[str, th.Tensor]:
    """The loss of stable_baselines3.PPO.train on one minibatch, line for line."""
    actions = rollout_data.actions
    if isinstance(policy.action_space, gym.spaces.Discrete):
        actions = rollout_data.actions.long().flatten()
    values, log_prob, entropy = policy.evaluate_actions(rollout_data.observations, actions)
    values = values.flatten()
    advantages = rollout_data.advantages
    if normalize_advantage and len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = th.exp(log_prob - rollout_data.old_log_prob)
    policy_loss_1 = advantages * ratio
    policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
    clip_fraction = th.mean((th.abs(ratio - 1) > clip_range).float())
    if clip_range_vf is None:
        values_pred = values
    else:
        values_pred = rollout_data.old_values + th.clamp(
            values - rollout_data.old_values, -clip_range_vf, clip_range_vf
        )
    value_loss = F.mse_loss(rollout_data.returns, values_pred)
    entropy_loss = -th.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    with th.no_grad():
        log_ratio = log_prob - rollout_data.old_log_prob
        approx_kl = th.mean((th.exp(log_ratio) - 1) - log_ratio)
    return {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy_loss": entropy_loss,
        "loss": loss,
        "clip_fraction": clip_fraction,
        "approx_kl": approx_kl,
    }


POLICIES = {
    "discrete-tanh-64x64": ((4,), gym.spaces.Discrete(2), {}),
    "discrete-relu-pi32x16-vf8": (
        (6,),
        gym.spaces.Discrete(5),
        {"net_arch": {"pi": [32, 16], "vf": [8]}, "activation_fn": th.nn.ReLU},
    ),
    "discrete-empty": ((3,), gym.spaces.Discrete(3), {"net_arch": []}),
    "box-tanh-64x64": ((3,), gym.spaces.Box(-1.0, 1.0, (2,)), {}),
    "box-relu-pi16-vf-empty": (
        (2, 3),  # flattened by FlattenExtractor
        gym.spaces.Box(-2.0, 2.0, (3,)),
        {"net_arch": {"pi": [16], "vf": []}, "activation_fn": th.nn.ReLU, "log_std_init": -0.5},
    ),
    "box-empty": ((5,), gym.spaces.Box(-1.0, 1.0, (1,)), {"net_arch": []}),
}
# (clip_range_vf, normalize_advantage, ent_coef, batch size)
LOSS_OPTIONS = list(itertools.product((None, 0.05), (True, False), (0.0, 0.01), (1, 64)))


@pytest.mark.parametrize("head_kernel", [True, False], ids=["numba-head", "torch-head"])
@pytest.mark.parametrize("fast_tanh", [False, True], ids=["torch-tanh", "fast-tanh"])
@pytest.mark.parametrize("name", POLICIES)
def test_gradients_equal_autograd_of_sb3_loss(
    name: str, fast_tanh: bool, head_kernel: bool
) -> None:
    """The hand-written backward against autograd of SB3's loss: to 1e-5 relative with torch's
    tanh; with numpy's (the default, last-bit differences amplified by the loss) to 1e-4; with
    the loss's middle in torch operations or in the numba pass (the CPU default)."""
    obs_shape, action_space, kwargs = POLICIES[name]
    policy = make_policy(obs_shape, action_space, **kwargs)
    lean = LeanActorCritic.from_policy(policy)
    assert lean is not None
    lean.fast_tanh = fast_tanh
    lean.head_kernel = head_kernel
    rtol, atol = (1e-4, 1e-5) if fast_tanh else (1e-5, 1e-6)
    params = list(policy.parameters())
    clipped_somewhere = vf_clipped_somewhere = False
    for seed, (clip_range_vf, normalize, ent_coef, size) in enumerate(LOSS_OPTIONS):
        options = (0.2, clip_range_vf, ent_coef, 0.5, normalize)
        batch = minibatch(policy, size, seed)
        policy.zero_grad()
        want = sb3_loss(policy, batch, *options)
        want["loss"].backward()
        want_grads = [param.grad.clone() for param in params]

        policy.zero_grad()
        got = lean.ppo_backward(batch, *options)
        where = f"{name}, clip_range_vf={clip_range_vf}, normalize={normalize}, "
        where += f"ent_coef={ent_coef}, batch={size}"
        for param, want_grad in zip(params, want_grads, strict=True):
            assert param.grad is not None
            th.testing.assert_close(param.grad, want_grad, rtol=rtol, atol=atol, msg=where)
        for key, value in want.items():
            assert getattr(got, key).shape == ()
            th.testing.assert_close(getattr(got, key), value.detach(), rtol=rtol, atol=atol)
        clipped_somewhere |= 0 < float(want["clip_fraction"]) < 1
        if clip_range_vf is not None and size > 1:
            values = policy.predict_values(batch.observations).flatten()
            inside = (values - batch.old_values).abs() <= clip_range_vf
            vf_clipped_somewhere |= bool(inside.any()) and not bool(inside.all())
    assert clipped_somewhere and vf_clipped_somewhere, "the clipped branches were not exercised"


@pytest.mark.parametrize(
    "name", ["discrete-tanh-64x64", "box-tanh-64x64", "box-relu-pi16-vf-empty"]
)
@pytest.mark.parametrize("deterministic", [False, True])
def test_rollout_forward_identical_to_policy_forward(name: str, deterministic: bool) -> None:
    obs_shape, action_space, kwargs = POLICIES[name]
    policy = make_policy(obs_shape, action_space, **kwargs)
    lean = LeanActorCritic.from_policy(policy)
    assert lean is not None
    obs = 2 * th.randn(8, *obs_shape)
    with th.no_grad():
        th.manual_seed(123)
        want = policy(obs, deterministic=deterministic)
        want_next = th.rand(3)  # the generator is left in the same state
        th.manual_seed(123)
        got = lean.act(obs, deterministic=deterministic)
        got_next = th.rand(3)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert th.equal(a, b)
        assert th.equal(got_next, want_next)
        assert th.equal(lean.predict_values(obs), policy.predict_values(obs))


def test_fused_adam_matches_the_default_to_rounding() -> None:
    """The one optimizer change of the lean path: SB3's Adam (foreach=None, fused=None: the
    single-tensor loop on the CPU) switched to the fused kernel takes the same steps to float32
    rounding."""
    policies = [make_policy((4,), gym.spaces.Discrete(2), seed=3) for _ in range(2)]
    assert enable_fused_adam(policies[1].optimizer)
    assert [g["fused"] for g in policies[1].optimizer.param_groups] == [True]
    assert policies[0].optimizer.param_groups[0]["fused"] is None
    generator = th.Generator().manual_seed(0)
    for step in range(300):
        grads = [
            th.randn(p.shape, generator=generator) * 10.0 ** (step % 5 - 2)
            for p in policies[0].parameters()
        ]
        for policy in policies:
            for param, grad in zip(policy.parameters(), grads, strict=True):
                param.grad = grad.clone()
            th.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            policy.optimizer.param_groups[0]["lr"] = 1e-3 * (1 - step / 300)
            policy.optimizer.step()
    for a, b in zip(policies[0].parameters(), policies[1].parameters(), strict=True):
        th.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert not th.equal(a, th.zeros_like(a))

    # Adam with an explicit choice, and other optimizers, are left alone.
    chosen = th.optim.Adam(policies[0].parameters(), foreach=True)
    assert not enable_fused_adam(chosen) and chosen.param_groups[0]["fused"] is None
    sgd = th.optim.SGD(policies[0].parameters(), lr=0.1)
    assert not enable_fused_adam(sgd)
    assert sgd.param_groups[0].get("fused") is None


def test_lean_adam_equals_clip_grad_norm_and_adam_to_rounding() -> None:
    """LeanAdam's one compiled call against SB3's two torch calls (clip_grad_norm_ and the
    default Adam) over 300 steps of N(0, 1) gradients times 1e-4 to 1 (norms of about 0.01 to
    100: clipping off and on), with weight decay and a changing learning rate: parameters,
    clipped gradients, Adam's state and the returned norm agree to float32 rounding, and
    torch's Adam continues from its state."""
    policies = [make_policy((4,), gym.spaces.Discrete(2), seed=3) for _ in range(2)]
    for policy in policies:
        policy.optimizer.param_groups[0]["weight_decay"] = 1e-4
    reference, lean = policies
    adam = LeanAdam.for_optimizer(lean.optimizer, list(lean.parameters()))
    assert adam is not None
    generator = th.Generator().manual_seed(0)
    clipped = 0
    for step in range(300):
        grads = [
            th.randn(p.shape, generator=generator) * 10.0 ** (step % 5 - 4)
            for p in reference.parameters()
        ]
        for policy in policies:
            for param, grad in zip(policy.parameters(), grads, strict=True):
                param.grad = grad.clone()
            policy.optimizer.param_groups[0]["lr"] = 1e-3 * (1 - step / 300)
        want_norm = th.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        reference.optimizer.step()
        got_norm = adam.step(0.5)
        clipped += bool(want_norm > 0.5)
        assert got_norm == pytest.approx(float(want_norm), rel=1e-5)
        for a, b in zip(reference.parameters(), lean.parameters(), strict=True):
            th.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-7)
    assert 50 < clipped < 250
    for a, b in zip(reference.parameters(), lean.parameters(), strict=True):
        th.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
        state_a, state_b = reference.optimizer.state[a], lean.optimizer.state[b]
        assert float(state_b["step"]) == float(state_a["step"]) == 300.0
        for key in ("exp_avg", "exp_avg_sq"):
            th.testing.assert_close(state_b[key], state_a[key], rtol=1e-5, atol=1e-9)
    # torch's Adam takes over from the state LeanAdam left (as after save and load)
    for policy in policies:
        for param in policy.parameters():
            param.grad = th.ones_like(param)
        policy.optimizer.step()
    for a, b in zip(reference.parameters(), lean.parameters(), strict=True):
        th.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_lean_adam_kept_across_updates_follows_a_loaded_state_and_new_storage() -> None:
    """One LeanAdam serves every update (PPO keeps it); refresh() notices an optimizer state
    loaded in between (new tensors) and a parameter given new storage, so its next steps are
    torch's Adam from that state, not from the tensors it saw first."""
    policies = [make_policy((4,), gym.spaces.Discrete(2), seed=5) for _ in range(2)]
    reference, lean = policies
    adam = LeanAdam.for_optimizer(lean.optimizer, list(lean.parameters()))
    assert adam is not None and adam.matches(lean.optimizer, list(lean.parameters()))
    generator = th.Generator().manual_seed(1)

    def step_both(steps: int) -> None:
        for _ in range(steps):
            grads = [th.randn(p.shape, generator=generator) for p in reference.parameters()]
            for policy in policies:
                for param, grad in zip(policy.parameters(), grads, strict=True):
                    if param.grad is None:
                        param.grad = grad.clone()
                    else:  # the same gradient tensors throughout, as the lean update keeps
                        param.grad.copy_(grad)
            th.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
            reference.optimizer.step()
            adam.refresh()
            adam.step(0.5)
        for a, b in zip(reference.parameters(), lean.parameters(), strict=True):
            th.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)

    step_both(5)
    saved = copy.deepcopy(reference.optimizer.state_dict())
    step_both(5)
    for policy in policies:  # both go back to the saved moments (new state tensors)
        policy.optimizer.load_state_dict(copy.deepcopy(saved))
    step_both(5)
    for policy in policies:  # and to new storage for every parameter
        for param in policy.parameters():
            param.data = param.data.clone()
    step_both(5)
    assert not adam.matches(reference.optimizer, list(lean.parameters()))


def test_lean_adam_address_table_refuses_what_it_cannot_read() -> None:
    """The compiled step reads float32 elements at the table's addresses: a float64 or strided
    array is refused by name, never read as float32."""
    from thrust_algos.lean_adam import _address_table

    good = tuple((np.zeros(3, np.float32),) for _ in range(5))
    table, sizes, norms = _address_table(good)
    assert table.shape == (5, 1) and sizes.tolist() == [3] and norms.shape == (1,)
    for bad in (np.zeros(3), np.zeros(6, np.float32)[::2]):
        with pytest.raises(RuntimeError, match="contiguous float32"):
            _address_table(((bad,), *good[1:]))


def test_lean_adam_only_for_the_adam_it_computes() -> None:
    policy = make_policy((4,), gym.spaces.Discrete(2), seed=3)
    params = list(policy.parameters())
    assert LeanAdam.for_optimizer(th.optim.SGD(params, lr=0.1), params) is None
    for flag in ("amsgrad", "maximize", "decoupled_weight_decay"):
        assert LeanAdam.for_optimizer(th.optim.Adam(params, **{flag: True}), params) is None
    two_groups = th.optim.Adam([{"params": params[:2]}, {"params": params[2:]}])
    assert LeanAdam.for_optimizer(two_groups, params) is None
    assert LeanAdam.for_optimizer(th.optim.Adam(params[:2]), params) is None
    doubles = [p.detach().double().requires_grad_() for p in params]
    assert LeanAdam.for_optimizer(th.optim.Adam(doubles), doubles) is None
    assert LeanAdam.for_optimizer(policy.optimizer, params) is not None


def test_lean_adam_refuses_missing_or_foreign_gradients_and_changes_nothing() -> None:
    policy = make_policy((4,), gym.spaces.Discrete(2), seed=3)
    params = list(policy.parameters())
    adam = LeanAdam.for_optimizer(policy.optimizer, params)
    assert adam is not None
    before = [p.detach().clone() for p in params]
    with pytest.raises(RuntimeError, match="parameter 0 has no gradient"):
        adam.step(0.5)
    for p in params:
        p.grad = th.ones_like(p)
    assert params[0].dim() == 2
    params[0].grad = th.ones(params[0].shape[::-1]).t()  # a transposed (strided) gradient
    with pytest.raises(RuntimeError, match="parameter 0's gradient must be a contiguous float32"):
        adam.step(0.5)
    for p, b in zip(params, before, strict=True):
        assert th.equal(p, b)
    params[0].grad = th.ones_like(params[0])
    adam.step(0.5)  # fixed: it steps
    assert not th.equal(params[0], before[0])


# --- thrust_algos.PPO on the lean path


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("CartPole-v1", {"n_steps": 64, "batch_size": 64, "n_epochs": 3}),
        (
            "Pendulum-v1",
            {
                "n_steps": 32,
                "batch_size": 32,
                "n_epochs": 2,
                "clip_range_vf": 0.2,
                "ent_coef": 0.01,
            },
        ),
        (  # Adam with AdamW's decoupled weight decay: torch's step, not LeanAdam's L2 decay
            "Pendulum-v1",
            {
                "n_steps": 32,
                "batch_size": 64,
                "n_epochs": 3,
                "policy_kwargs": {
                    "optimizer_kwargs": {"weight_decay": 0.1, "decoupled_weight_decay": True}
                },
            },
        ),
    ],
)
def test_lean_ppo_matches_stock_sb3(env_id: str, kwargs: dict) -> None:
    """Same seed: the first rollout is identical, the logged losses of the first updates equal
    to float rounding, and the lean path was taken."""
    stock, _ = run(SB3PPO, make_vec_env(env_id, 4, seed=1), 3, **kwargs)
    thrust, model = run(thrust_algos.PPO, make_vec_env(env_id, 4, seed=1), 3, **kwargs)
    assert model.lean and model._lean is not None and model._lean.policy is model.policy
    assert model.policy.optimizer.param_groups[0]["fused"] is True
    for name in FIELDS:
        np.testing.assert_array_equal(thrust.rollouts[0][name], stock.rollouts[0][name], name)
    assert len(thrust.losses) == len(stock.losses) == 3
    for update, (want, got) in enumerate(zip(stock.losses, thrust.losses, strict=True)):
        for key in LOSSES:
            # (explained variance is 1 - a ratio close to 1: its relative error is larger)
            rel = 1e-3 if key == "train/explained_variance" else 1e-4
            assert got[key] == pytest.approx(want[key], rel=rel, abs=1e-6), (update, key)


def test_lean_time_limit_bootstrap_as_sb3_path() -> None:
    """Episodes cut at 15 steps: the batched bootstrap of truncated rewards through the lean value
    forward gives the very rollout of thrust's SB3 path (lean=False)."""
    env_kwargs = {"max_episode_steps": 15}
    kwargs = {"n_steps": 64, "batch_size": 64, "n_epochs": 2}
    runs = [
        run(
            thrust_algos.PPO,
            make_vec_env("CartPole-v1", 4, seed=1, env_kwargs=env_kwargs),
            1,
            lean=lean,
            **kwargs,
        )[0]
        for lean in (False, True)
    ]
    want, got = (recorder.rollouts[0] for recorder in runs)
    assert np.sum(want["rewards"] > 1.0) > 0, "the bootstrap path was not exercised"
    for name in FIELDS:
        np.testing.assert_array_equal(got[name], want[name], name)


def test_lean_target_kl_and_n_updates_as_stock() -> None:
    kwargs = {"n_steps": 32, "batch_size": 16, "n_epochs": 5, "target_kl": 1e-5}
    stock, stock_model = run(SB3PPO, make_vec_env("CartPole-v1", 2, seed=1), 2, **kwargs)
    thrust, thrust_model = run(
        thrust_algos.PPO, make_vec_env("CartPole-v1", 2, seed=1), 2, **kwargs
    )
    assert thrust_model._lean is not None
    assert thrust_model._n_updates == stock_model._n_updates < 2 * kwargs["n_epochs"]
    for want, got in zip(stock.losses, thrust.losses, strict=True):
        assert got["train/approx_kl"] == pytest.approx(want["train/approx_kl"], rel=1e-3)


def test_lean_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="lean must be True or False"):
        thrust_algos.PPO("MlpPolicy", make_vec_env("CartPole-v1", 1, seed=0), lean="yes")


def test_lean_false_is_sb3_path() -> None:
    model = thrust_algos.PPO(
        "MlpPolicy", make_vec_env("CartPole-v1", 2, seed=0), n_steps=16, batch_size=16, lean=False
    )
    model.learn(32)
    assert model._lean is None and model._lean_actor_critic() is None
    assert model.policy.optimizer.param_groups[0]["fused"] is None


UNSUPPORTED = {
    "CnnPolicy": ("CnnPolicy", lambda: FakeImageEnv(screen_height=36, screen_width=36), {}),
    "MultiInputPolicy": ("MultiInputPolicy", lambda: SimpleMultiObsEnv(), {}),
    "gSDE": ("MlpPolicy", lambda: gym.make("Pendulum-v1"), {"use_sde": True}),
    "squash_output": (
        "MlpPolicy",
        lambda: gym.make("Pendulum-v1"),
        {"use_sde": True, "policy_kwargs": {"squash_output": True}},
    ),
    "MultiDiscrete": ("MlpPolicy", lambda: IdentityEnvMultiDiscrete(dim=2), {}),
    "subclass": (type("MyPolicy", (ActorCriticPolicy,), {}), lambda: gym.make("CartPole-v1"), {}),
    "separate extractors": (
        "MlpPolicy",
        lambda: gym.make("CartPole-v1"),
        {"policy_kwargs": {"share_features_extractor": False}},
    ),
    "LeakyReLU": (
        "MlpPolicy",
        lambda: gym.make("CartPole-v1"),
        {"policy_kwargs": {"activation_fn": th.nn.LeakyReLU}},
    ),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_policies_fall_back_and_train(name: str) -> None:
    policy, env_fn, kwargs = UNSUPPORTED[name]
    env = make_vec_env(env_fn, 2, seed=0)
    model = thrust_algos.PPO(
        policy, env, n_steps=8, batch_size=8, n_epochs=2, seed=0, device="cpu", **kwargs
    )
    assert LeanActorCritic.from_policy(model.policy) is None
    before = [param.detach().clone() for param in model.policy.parameters()]
    model.learn(16)
    assert model._lean is None and model._n_updates == 2
    assert any(not th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


def test_lean_rebuilt_for_a_new_policy_and_after_load(tmp_path) -> None:
    env = make_vec_env("CartPole-v1", 2, seed=0)
    kwargs = {"n_steps": 16, "batch_size": 16, "n_epochs": 2, "seed": 0, "device": "cpu"}
    model = thrust_algos.PPO("MlpPolicy", env, **kwargs).learn(32)
    first = model._lean
    assert first is not None and first.policy is model.policy

    # set_parameters loads into the same Parameter objects: the fast path stays valid.
    model.set_parameters(model.get_parameters())
    model.learn(32, reset_num_timesteps=False)
    assert model._lean is first

    model.policy = model.policy_class(  # a new policy object: a new fast path
        model.observation_space, model.action_space, model.lr_schedule, **model.policy_kwargs
    )
    model.learn(32, reset_num_timesteps=False)
    assert model._lean is not first and model._lean.policy is model.policy

    model.save(tmp_path / "lean.zip")
    with zipfile.ZipFile(tmp_path / "lean.zip") as archive:
        data = archive.read("data").decode()
    assert "thrust_algos" not in data and '"lean"' not in data
    loaded = thrust_algos.PPO.load(tmp_path / "lean.zip", env=env, device="cpu")
    assert loaded.lean and loaded._lean is None
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded._lean is not None and loaded._lean.policy is loaded.policy
    obs = np.stack([env.observation_space.sample() for _ in range(8)])
    stock = SB3PPO.load(tmp_path / "lean.zip", device="cpu")
    np.testing.assert_array_equal(
        stock.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )

    # lean=False survives a save and load (and stock SB3 still loads the model).
    model.lean = False
    model.save(tmp_path / "sb3_path.zip")
    assert not thrust_algos.PPO.load(tmp_path / "sb3_path.zip", device="cpu").lean
    SB3PPO.load(tmp_path / "sb3_path.zip", env=env, device="cpu").learn(16)


def test_fused_adam_switch_moves_loaded_step_counters() -> None:
    """An Adam state from stock SB3 (default single-tensor Adam: ``step`` a CPU tensor, or a
    plain number in older states) gets float32 ``step`` tensors on the parameters' device when
    switched to fused, and the fused step then equals the default's to rounding."""
    th.manual_seed(0)
    params = [th.nn.Parameter(th.randn(3, 2)), th.nn.Parameter(th.randn(2))]
    reference = [th.nn.Parameter(p.detach().clone()) for p in params]
    optimizers = [th.optim.Adam(ps, lr=1e-2) for ps in (params, reference)]
    for optimizer, ps in zip(optimizers, (params, reference), strict=True):
        for p in ps:
            p.grad = th.ones_like(p)
        optimizer.step()
    # What a loaded state can hold: a float64 CPU tensor, a Python int.
    optimizers[0].state[params[0]]["step"] = th.tensor(1.0, dtype=th.float64)
    optimizers[0].state[params[1]]["step"] = 1
    assert enable_fused_adam(optimizers[0])
    for p in params:
        step = optimizers[0].state[p]["step"]
        assert isinstance(step, th.Tensor) and step.dtype == th.float32
        assert step.device == p.device and float(step) == 1.0
    for optimizer in optimizers:
        optimizer.step()
    for p, q in zip(params, reference, strict=True):
        th.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_a_parameter_frozen_after_an_update_stays_frozen() -> None:
    """requires_grad_(False) after the lean path was built: the next update must leave the
    frozen parameters alone, as SB3's does (autograd computes no gradient for them)."""
    model = thrust_algos.PPO(
        "MlpPolicy", make_vec_env("CartPole-v1", 2, seed=0), n_steps=16, batch_size=16, seed=0
    )
    model.learn(32)
    frozen = list(model.policy.mlp_extractor.policy_net.parameters())
    for p in frozen:
        p.requires_grad_(False)
    before = [p.detach().clone() for p in frozen]
    model.learn(32, reset_num_timesteps=False)
    for old, p in zip(before, frozen, strict=True):
        assert th.equal(old, p)
    assert model.update_path == "autograd"


@pytest.mark.parametrize(
    "clips", [{"clip_range": 0.0}, {"clip_range_vf": 1e-9}, {"clip_range": lambda p: 0.0}]
)
def test_a_clip_range_near_zero_updates_as_sb3(clips) -> None:
    """At a clip range of 0 (a linear schedule's last update) every row of the first
    minibatch is a tie that SB3's exact ratio of 1 resolves; the lean update falls back to
    autograd there, and says why."""
    kwargs = dict(n_steps=16, batch_size=16, n_epochs=2, **clips)
    _, stock = run(SB3PPO, make_vec_env("CartPole-v1", 2, seed=1), 1, **kwargs)
    _, model = run(thrust_algos.PPO, make_vec_env("CartPole-v1", 2, seed=1), 1, **kwargs)
    assert model.update_path.startswith("autograd: clip_range"), model.update_path
    # The lean rollout's values equal SB3's to float32 rounding; so do the weights here (the
    # ties cost 5e-4 on the lean update).
    for key, value in stock.policy.state_dict().items():
        th.testing.assert_close(model.policy.state_dict()[key], value, rtol=0, atol=1e-6)
