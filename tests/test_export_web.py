"""The web export: one HTML page where an exported policy plays its env in JavaScript.

- JS physics and forward pass against Python (golden data written here, checked by
  ``node --test tests/web/web.test.js``);
- the page: self-contained, small, and from ``thrust-export --format web``;
- bad input: one clear error, exit status 2, no file;
- a real browser (Debian's chromium through Playwright) plays a trained CartPole policy, a
  Snake policy (3 snakes, a smaller window) and a Bucket Brigade policy (the hard preset, 5
  agents on 8 houses) with ``?selftest=N&seed=S`` and must report the returns Python gives
  (the vector env; vs_opponent with the greedy, the coordinator bot).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import web_golden
from export_helpers import SpaceEnv, get_case
from export_helpers import one_torch_thread as one_torch_thread
from stable_baselines3 import PPO

import thrust_export
from thrust_envs.core.definition import make_params
from thrust_envs.multiagent.bucket_brigade import preset_kwargs
from thrust_envs.registration import game_definitions, game_lookup
from thrust_envs.sb3 import make_vec_env
from thrust_export.cli import main
from thrust_export.parity import sample_observations

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
CHROMIUM = os.environ.get("THRUST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUCKET_BRIGADE = "Thrust/BucketBrigade-v0"
WEB_ENV_IDS = (*web_golden.SINGLE_ENVS, "Thrust/Pong-v0", "Thrust/Snake-v0", BUCKET_BRIGADE)
#: Snake trajectories (name, seed, parameters, bot seats): the default 4 snakes with greedy
#: bots in two seats; one snake on a 5 x 5 grid nearly full of food, seeing beyond every wall
#: (food placement's scan, a full grid); 4 snakes of length 1 on 4 x 4 (deaths, head-to-heads);
#: one snake of length 15 on 16 x 16 (a reset's placement often needs its fallback scan).
SNAKE_TRAJECTORIES = (
    ("Snake-v0", 4, {}, (2, 3)),
    (
        "Snake-v0-full",
        5,
        {"num_snakes": 1, "grid_size": 5, "start_length": 2, "num_food": 20, "vision_radius": 6},
        (),
    ),
    ("Snake-v0-crowded", 6, {"grid_size": 4, "start_length": 1, "vision_radius": 1}, (1,)),
    ("Snake-v0-long", 7, {"num_snakes": 1, "grid_size": 16, "start_length": 15}, ()),
)
#: Whole Snake episodes of web_golden.cautious_snake_policy, which outlives bots (name,
#: parameters, the page's choice for the other seats: None for the greedy bot, episodes).
SNAKE_EPISODES = (
    ("Snake-v0-greedy", {}, None, 20),
    ("Snake-v0-self-play", {}, "policy", 10),
    ("Snake-v0-alone", {"num_snakes": 1, "grid_size": 8}, None, 10),
    ("Snake-v0-six", {"num_snakes": 6, "vision_radius": 2}, None, 10),
)
#: Bucket Brigade trajectories (name, seed, parameters, bot seats, bot): every bot, every
#: preset, the spread phase before burn-out (hard), two houses (both neighbours one house),
#: ten agents on three houses (up to ten workers at a fire: the power's every exponent; every
#: game cut at its time limit, as a third of the hard ones are).
BUCKET_BRIGADE_TRAJECTORIES = (
    ("BucketBrigade-v0", 30, {}, (1, 2, 3), "coordinator"),
    (
        "BucketBrigade-v0-hard",
        31,
        preset_kwargs("hard", num_agents=6, num_houses=12, max_nights=16),
        (1, 3, 5),
        "hero",
    ),
    (
        "BucketBrigade-v0-easy",
        32,
        preset_kwargs("easy", num_agents=5, min_nights=2),
        (2, 3, 4),
        "owner",
    ),
    (
        "BucketBrigade-v0-crowd",
        33,
        {
            "num_agents": 10,
            "num_houses": 3,
            "prob_house_catches_fire": 0.9,
            "min_nights": 13,
            "max_nights": 13,
        },
        tuple(range(1, 10)),
        "random",
    ),
    (
        "BucketBrigade-v0-two-houses",
        34,
        {
            "num_houses": 2,
            "spread_before_burnout": True,
            "prob_fire_spreads_to_neighbor": 0.9,
            "prob_house_catches_fire": 0.3,
            "min_nights": 3,
        },
        (1, 2, 3),
        "free_rider",
    ),
)
#: Whole Bucket Brigade episodes of a freshly initialised policy (name, parameters, the page's
#: choice for the other seats: None for the coordinator bot, episodes).
BUCKET_BRIGADE_EPISODES = (
    ("BucketBrigade-v0-coordinator", {}, None, 10),
    ("BucketBrigade-v0-random", {"num_agents": 6}, "random", 10),
    ("BucketBrigade-v0-hard-hero", preset_kwargs("hard", num_houses=7), "hero", 5),
    ("BucketBrigade-v0-self-play", {"num_agents": 5}, "policy", 5),
)
POLICY_CASES = (
    "ppo-discrete",
    "ppo-multidiscrete",
    "ppo-multibinary",
    "ppo-box",
    "ppo-box-gsde-squash",
    "a2c-discrete",
    "a2c-box-float64",
    "dqn",
    "sac",
    "td3",
    "sac-vecnormalize",
)


@pytest.fixture(scope="module")
def cartpole_model() -> PPO:
    """A PPO CartPole policy (64x64), trained for a few seconds: it balances for a while."""
    venv = make_vec_env("Thrust/CartPole-v1", 8, seed=0)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        learning_rate=3e-3,
        policy_kwargs={"net_arch": [64, 64]},
        seed=0,
        device="cpu",
    )
    return model.learn(8192)


@pytest.fixture(scope="module")
def cartpole_page(cartpole_model: PPO, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("web") / "cartpole.html"
    return thrust_export.export_web(cartpole_model, out, env_id="Thrust/CartPole-v1")


#: Snake's page in a set-up other than the default, which the page must carry.
SNAKE_KWARGS = {"num_snakes": 3, "vision_radius": 2}


@pytest.fixture(scope="module")
def snake_model() -> PPO:
    return web_golden.cautious_snake_model(SNAKE_KWARGS)


@pytest.fixture(scope="module")
def snake_page(snake_model: PPO, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("web") / "snake.html"
    policy = thrust_export.to_numpy_policy(snake_model)
    return thrust_export.export_web(policy, out, env_id="Thrust/Snake-v0", **SNAKE_KWARGS)


#: Bucket Brigade's page in a set-up other than the default: a preset with overrides.
BUCKET_BRIGADE_KWARGS = preset_kwargs("hard", num_agents=5, num_houses=8)


def _fresh_model(env_id: str, env_kwargs: dict, seed: int) -> PPO:
    """An untrained PPO MlpPolicy (64 x 64) for the game's spaces."""
    return PPO("MlpPolicy", SpaceEnv(*_spaces(env_id, env_kwargs)), seed=seed, device="cpu")


@pytest.fixture(scope="module")
def bucket_brigade_model() -> PPO:
    return _fresh_model(BUCKET_BRIGADE, BUCKET_BRIGADE_KWARGS, seed=0)


@pytest.fixture(scope="module")
def bucket_brigade_page(
    bucket_brigade_model: PPO, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("web") / "bucket_brigade.html"
    return thrust_export.export_web(
        bucket_brigade_model, out, env_id=BUCKET_BRIGADE, **BUCKET_BRIGADE_KWARGS
    )


# ---------------------------------------------------------------- JavaScript against Python


@pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")
def test_javascript_equals_python(tmp_path: Path) -> None:
    for k, env_id in enumerate(web_golden.SINGLE_ENVS):
        data = web_golden.env_trajectory(env_id, 3000, seed=10 + k)
        web_golden.write(tmp_path, f"env-{env_id.split('/')[1]}", data)
    web_golden.write(tmp_path, "env-Pong-v0", web_golden.game_trajectory("Thrust/Pong-v0", 3000, 3))
    for name, seed, kwargs, bot_seats in SNAKE_TRAJECTORIES:
        data = web_golden.game_trajectory("Thrust/Snake-v0", 3000, seed, kwargs, bot_seats)
        web_golden.write(tmp_path, f"env-{name}", data)
    for name, seed, kwargs, bot_seats, bot in BUCKET_BRIGADE_TRAJECTORIES:
        data = web_golden.game_trajectory(BUCKET_BRIGADE, 3000, seed, kwargs, bot_seats, bot)
        web_golden.write(tmp_path, f"env-{name}", data)
    powers = web_golden.bucket_brigade_powers(20000, seed=35)
    web_golden.write(tmp_path, "power-BucketBrigade", powers)
    # Bounds as the random bot's, odd counts of words, and large ones that reject often.
    draws = web_golden.numpy_draws(36, (10, 2, 2, 7, 3_000_000_001, 2**32), rounds=500)
    web_golden.write(tmp_path, "numpy-integers", draws)
    for name in POLICY_CASES:
        model, vec_normalize = get_case(name)
        policy = thrust_export.to_numpy_policy(model, vec_normalize)
        observations = sample_observations(model.observation_space, 2000, seed=1)
        web_golden.write(tmp_path, f"policy-{name}", web_golden.policy_case(policy, observations))
    # Whole episodes under a (freshly initialised) policy per env, as the page plays them.
    for k, env_id in enumerate(WEB_ENV_IDS):
        model = PPO("MlpPolicy", SpaceEnv(*_spaces(env_id)), seed=k, device="cpu")
        data = web_golden.episodes_case(thrust_export.to_numpy_policy(model), env_id, k, 3)
        web_golden.write(tmp_path, f"episodes-{env_id.split('/')[1]}", data)
    # An untrained snake hits a wall within a few steps, before the bots' play matters.
    for k, (name, kwargs, opponent, count) in enumerate(SNAKE_EPISODES):
        policy = thrust_export.to_numpy_policy(web_golden.cautious_snake_model(kwargs))
        data = web_golden.episodes_case(policy, "Thrust/Snake-v0", 20 + k, count, kwargs, opponent)
        web_golden.write(tmp_path, f"episodes-{name}", data)
    for k, (name, kwargs, opponent, count) in enumerate(BUCKET_BRIGADE_EPISODES):
        policy = thrust_export.to_numpy_policy(_fresh_model(BUCKET_BRIGADE, kwargs, seed=k))
        data = web_golden.episodes_case(policy, BUCKET_BRIGADE, 40 + k, count, kwargs, opponent)
        web_golden.write(tmp_path, f"episodes-{name}", data)
    result = subprocess.run(
        [NODE, "--test", str(ROOT / "tests" / "web" / "web.test.js")],
        env={**os.environ, "THRUST_GOLDEN": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    expected = (
        len(web_golden.SINGLE_ENVS)
        + 1  # Pong's trajectory
        + len(SNAKE_TRAJECTORIES)
        + len(BUCKET_BRIGADE_TRAJECTORIES)
        + 2  # Bucket Brigade's powers, numpy's integers
        + len(WEB_ENV_IDS)  # an untrained policy's episodes each
        + len(SNAKE_EPISODES)
        + len(BUCKET_BRIGADE_EPISODES)
        + len(POLICY_CASES)
    )
    assert f"# pass {expected}\n" in result.stdout, result.stdout[-3000:]


def _spaces(env_id: str, env_kwargs: dict | None = None) -> tuple[gym.Space, gym.Space]:
    if env_id in game_definitions():
        game = game_lookup(env_id)
        params = make_params(game, env_id, env_kwargs or {})
        return game.observation_space(params), game.action_space(params)
    env = gym.make(env_id)
    return env.observation_space, env.action_space


# ---------------------------------------------------------------- the page


def _page_config(page: Path) -> dict:
    html = page.read_text(encoding="utf-8")
    return json.loads(html.split('id="thrust-config">', 1)[1].split("</script>", 1)[0])


def test_page_is_one_self_contained_file(cartpole_page: Path) -> None:
    html = cartpole_page.read_text(encoding="utf-8")
    # Nothing fetched: no external scripts, styles, images or modules, no fetch/import calls.
    for forbidden in ("src=", "href=", "fetch(", "import(", "XMLHttpRequest", "http://", "https:"):
        assert forbidden not in html, forbidden
    assert "default-src 'none'" in html  # the page's CSP forbids any request
    config = html.split('id="thrust-config">', 1)[1].split("</script>", 1)[0]
    plan = json.loads(config)["plan"]
    assert [n["out_dim"] for n in plan["networks"]] == [2, 1]
    # The roadmap's budget for a 64x64 policy.
    assert len(gzip.compress(cartpole_page.read_bytes())) <= 500 * 1024


def test_cli_writes_a_page_from_a_model_and_from_an_artifact(
    cartpole_model: PPO, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_path = tmp_path / "model.zip"
    cartpole_model.save(model_path)
    artifact = thrust_export.export_numpy(cartpole_model, tmp_path / "policy.npz", verify=0)
    pages = []
    for source in (model_path, artifact):
        out = tmp_path / f"{source.stem}.html"
        argv = [str(source), "--format", "web", "--env", "Thrust/CartPole-v1", "-o", str(out)]
        assert main(argv) == 0
        assert "web page for Thrust/CartPole-v1" in capsys.readouterr().out
        pages.append(out.read_text(encoding="utf-8"))
    assert pages[0] == pages[1]  # the same plan either way


def test_snake_page_carries_its_set_up(snake_page: Path) -> None:
    html = snake_page.read_text(encoding="utf-8")
    config = _page_config(snake_page)
    assert config["env_id"] == "Thrust/Snake-v0" and config["env_name"] == "Snake"
    assert config["params"]["num_snakes"] == 3 and config["params"]["vision_radius"] == 2
    assert config["observation_shape"] == [5 * 5 * 5] and config["players"] == 3
    assert config["opponent"] == "greedy" and config["max_episode_steps"] == 1000
    # The subtitle names the Python view whose episodes the page plays.
    assert "the green snake (seat 0), the greedy bot every other seat" in html
    assert "thrust_envs.vs_opponent(env_id, greedy_bot(seed), seat=0)" in html
    assert "T.envs.Snake" in html and "T.envs.Pong" not in html


def test_snake_policy_that_does_not_fit_is_refused(
    snake_model: PPO, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A policy for a 5 x 5 window on the default Snake (a 7 x 7 window), bad parameters."""
    artifact = thrust_export.export_numpy(snake_model, tmp_path / "snake.npz", verify=0)
    out = tmp_path / "page.html"
    err = _bad_cli([str(artifact), "--format", "web", "--env", "Thrust/Snake-v0"], out, capsys)
    assert "observations of shape (125,), but Thrust/Snake-v0 gives shape (245,)" in err
    with pytest.raises(ValueError, match=r"shape \(125,\).*\(45,\)"):
        thrust_export.export_web(artifact, out, "Thrust/Snake-v0", num_snakes=3, vision_radius=1)
    with pytest.raises(ValueError, match="num_snakes"):
        thrust_export.export_web(artifact, out, "Thrust/Snake-v0", num_snakes=0, vision_radius=2)
    assert not out.exists()
    # The same artifact with its own set-up is a page.
    page = thrust_export.export_web(artifact, out, "Thrust/Snake-v0", **SNAKE_KWARGS)
    assert page.stat().st_size > 0


def test_bucket_brigade_page_carries_its_set_up(bucket_brigade_page: Path) -> None:
    html = bucket_brigade_page.read_text(encoding="utf-8")
    config = _page_config(bucket_brigade_page)
    assert config["env_name"] == "BucketBrigade" and config["players"] == 5
    assert config["params"] == {**BUCKET_BRIGADE_KWARGS}
    assert config["params"]["spread_before_burnout"] is True  # the hard preset's
    assert config["observation_shape"] == [3 * 5 + 5 * 8 + 3 * 8]
    assert config["action_space"] == {"type": "MultiDiscrete", "nvec": [8, 2, 2]}
    assert config["opponent"] == "coordinator" and config["max_episode_steps"] == 100
    # The bots are built from the game's parameters, and the subtitle says so.
    assert "coordinator_bot(num_houses=8, num_agents=5), seat=0)" in html
    assert "T.envs.BucketBrigade" in html and "T.envs.Snake" not in html


def test_bucket_brigade_policy_that_does_not_fit_is_refused(
    bucket_brigade_model: PPO, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 5-agent, 8-house policy on other set-ups; a Discrete policy of the right size."""
    artifact = thrust_export.export_numpy(bucket_brigade_model, tmp_path / "bb.npz", verify=0)
    out = tmp_path / "page.html"
    err = _bad_cli([str(artifact), "--format", "web", "--env", BUCKET_BRIGADE], out, capsys)
    assert f"observations of shape (79,), but {BUCKET_BRIGADE} gives shape (82,)" in err
    # (N + 3)(H + 3) = 88 for 5 agents on 8 houses and for 8 agents on 5: the same
    # observations, other actions.
    with pytest.raises(
        ValueError,
        match=r"MultiDiscrete\(\[8, 2, 2\]\)\) do not fit .*"
        r"which takes MultiDiscrete\(\[5, 2, 2\]\)",
    ):
        thrust_export.export_web(artifact, out, BUCKET_BRIGADE, num_agents=8, num_houses=5)
    discrete = thrust_export.to_numpy_policy(
        PPO(
            "MlpPolicy", SpaceEnv(gym.spaces.Box(0, 1, (79,)), gym.spaces.Discrete(8)), device="cpu"
        )
    )
    with pytest.raises(ValueError, match=r"\(Discrete\(8\)\) do not fit"):
        thrust_export.export_web(discrete, out, BUCKET_BRIGADE, **BUCKET_BRIGADE_KWARGS)
    with pytest.raises(ValueError, match="num_agents"):
        thrust_export.export_web(artifact, out, BUCKET_BRIGADE, num_agents=3, num_houses=8)
    assert not out.exists()
    page = thrust_export.export_web(artifact, out, BUCKET_BRIGADE, **BUCKET_BRIGADE_KWARGS)
    assert page.stat().st_size > 0


def _bad_cli(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("thrust-export: error:"), err
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()
    return err


def test_bad_input_is_one_error_and_no_file(
    cartpole_model: PPO, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = thrust_export.export_numpy(cartpole_model, tmp_path / "policy.npz", verify=0)
    out = tmp_path / "page.html"
    web = ["--format", "web"]
    # An env the web export cannot port (it ports every Thrust env, not Gymnasium's).
    err = _bad_cli([str(artifact), *web, "--env", "CartPole-v1"], out, capsys)
    assert "cannot run env 'CartPole-v1'" in err and BUCKET_BRIGADE in err
    with pytest.raises(ValueError, match="cannot run env"):
        thrust_export.export_web(artifact, out, env_id="CartPole-v1")
    assert not out.exists()
    # A policy that does not fit the env (CartPole's policy for Acrobot's observations).
    err = _bad_cli([str(artifact), *web, "--env", "Thrust/Acrobot-v1"], out, capsys)
    assert "observations of shape (4,)" in err
    err = _bad_cli([str(artifact), *web, "--env", "Thrust/Snake-v0"], out, capsys)
    assert "observations of shape (4,)" in err and "(245,)" in err
    # A policy kind the export does not support (a CNN policy).
    cnn = PPO(
        "CnnPolicy",
        web_golden_image_env(),
        n_steps=16,
        batch_size=16,
        policy_kwargs={"normalize_images": False},
        device="cpu",
    )
    cnn_path = tmp_path / "cnn.zip"
    cnn.save(cnn_path)
    err = _bad_cli([str(cnn_path), *web, "--env", "Thrust/CartPole-v1"], out, capsys)
    assert "unsupported model" in err
    # A tampered artifact.
    tampered = tmp_path / "tampered.npz"
    data = artifact.read_bytes()
    assert b'"PPO"' in data
    tampered.write_bytes(data.replace(b'"PPO"', b'"A2C"', 1))
    err = _bad_cli([str(tampered), *web, "--env", "Thrust/CartPole-v1"], out, capsys)
    assert "tampered.npz" in err
    # Usage errors.
    _bad_cli([str(artifact), *web], out, capsys)
    _bad_cli([str(artifact), *web, "--env", "Thrust/CartPole-v1", "--check", "5"], out, capsys)
    with pytest.raises(TypeError, match="unknown keyword"):
        thrust_export.export_web(artifact, out, env_id="Thrust/CartPole-v1", gravityy=1.0)
    assert not out.exists()


def web_golden_image_env() -> gym.Env:
    return SpaceEnv(gym.spaces.Box(0, 255, (36, 36, 3), np.uint8), gym.spaces.Discrete(2))


# ---------------------------------------------------------------- a real browser


def _browser_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no chromium at {CHROMIUM}: install it with `sudo apt-get install -y chromium` "
            "(or set THRUST_CHROMIUM) to run the web page in a real browser"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]'"
    )
    return sync_api


#: The browser's cases: the page's fixture, the model's, the env, its parameters, how many
#: episodes from which seed, and colours the canvas must show (the background, the scene).
BROWSER_CASES = {
    "CartPole": (
        "cartpole_page",
        "cartpole_model",
        "Thrust/CartPole-v1",
        {},
        (5, 0),
        ((255, 255, 255), (0, 0, 0), (202, 152, 101)),
    ),
    # The frame, the board, food and the green snake (the policy's).
    "Snake": (
        "snake_page",
        "snake_model",
        "Thrust/Snake-v0",
        SNAKE_KWARGS,
        (8, 3),
        ((70, 70, 80), (20, 20, 30), (230, 60, 60), (92, 186, 92)),
    ),
    # The night sky, safe houses, agent 0's red dots, resting agents (a new game's picture).
    "BucketBrigade": (
        "bucket_brigade_page",
        "bucket_brigade_model",
        BUCKET_BRIGADE,
        BUCKET_BRIGADE_KWARGS,
        (6, 2),
        ((24, 26, 38), (92, 186, 92), (230, 25, 75), (190, 190, 190)),
    ),
}


@pytest.mark.parametrize("case", list(BROWSER_CASES))
def test_browser_plays_the_python_episodes(case: str, request: pytest.FixtureRequest) -> None:
    sync_api = _browser_or_skip()
    page_fixture, model_fixture, env_id, env_kwargs, (count, seed), colours = BROWSER_CASES[case]
    page_path = request.getfixturevalue(page_fixture)
    policy = thrust_export.to_numpy_policy(request.getfixturevalue(model_fixture))
    expected_returns, expected_lengths = web_golden.python_episodes(
        policy, env_id, seed, count, env_kwargs
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_path.as_uri() + f"?selftest={count}&seed={seed}")
            page.wait_for_function(
                "document.getElementById('thrust-result').textContent.length > 0", timeout=30000
            )
            result = json.loads(page.text_content("#thrust-result"))
            picture = page.locator("#thrust-canvas").screenshot()
        finally:
            browser.close()
    assert result["env_id"] == env_id and result["seed"] == str(seed)  # exact, as text
    assert result["lengths"] == expected_lengths
    assert result["returns"] == expected_returns
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(picture)).convert("RGB")).reshape(-1, 3)
    shown = {tuple(c) for c in pixels[::7].tolist()}
    assert set(colours) <= shown, set(colours) - shown


def test_arguments_an_exported_policy_cannot_use_are_refused(
    cartpole_model: PPO, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """vec_normalize and algo describe an SB3 model still to be read: with a NumpyPolicy or a
    .npz artifact they would be ignored, so they are refused (no page written)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    artifact = thrust_export.export_numpy(cartpole_model, tmp_path / "policy.npz", verify=0)
    stats = tmp_path / "stats.pkl"
    env = SpaceEnv(cartpole_model.observation_space, cartpole_model.action_space)
    VecNormalize(DummyVecEnv([lambda: env])).save(str(stats))
    out = tmp_path / "page.html"
    for source in (thrust_export.load(artifact), artifact, str(artifact)):
        for option, value, named in (
            ("vec_normalize", str(stats), "vec_normalize"),
            ("algo", "PPO", "algo"),
            ("algo", "nonsense", "algo"),
        ):
            with pytest.raises(ValueError, match=rf"{named} .*already"):
                thrust_export.export_web(source, out, "Thrust/CartPole-v1", **{option: value})
    assert not out.exists()
    web = [str(artifact), "--format", "web", "--env", "Thrust/CartPole-v1"]
    assert "--vec-normalize" in _bad_cli([*web, "--vec-normalize", str(stats)], out, capsys)
    assert "--algo" in _bad_cli([*web, "--algo", "ppo"], out, capsys)
    assert "--opset applies to --format onnx only" in _bad_cli([*web, "--opset", "17"], out, capsys)


CRAFTED = '</title></h1><img src=x onerror="alert(1)"><script>document.body.dataset.x=1</script>'


@pytest.mark.parametrize("algorithm", [CRAFTED, "PPO__SCRIPTS__", "PPO__CONFIG__"])
def test_an_artifacts_text_stays_text_in_the_page(
    cartpole_model: PPO, tmp_path: Path, algorithm: str
) -> None:
    """The artifact's algorithm name reaches the title, heading and subtitle: it is escaped,
    and a placeholder's name in it is not substituted again (that broke the page)."""
    from thrust_export.artifact import read_artifact, write_artifact

    plain = thrust_export.export_numpy(cartpole_model, tmp_path / "plain.npz", verify=0)
    metadata, arrays = read_artifact(plain)
    crafted = write_artifact(tmp_path / "crafted.npz", {**metadata, "algorithm": algorithm}, arrays)
    reference = thrust_export.export_web(plain, tmp_path / "plain.html", "Thrust/CartPole-v1")
    page = thrust_export.export_web(crafted, tmp_path / "crafted.html", "Thrust/CartPole-v1")
    text, expected = page.read_text(), reference.read_text()
    for markup in ("<script", "<img", "<h1", "</title>", 'id="thrust-config"'):
        assert text.count(markup) == expected.count(markup), markup  # none added
    assert html_escape(f"{algorithm} on Thrust/CartPole-v1") in text
    assert _page_config(page)["plan"]["algorithm"] == algorithm  # the data itself is kept


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_the_page_says_why_it_refuses_a_seed_or_cannot_start(
    cartpole_page: Path, tmp_path: Path
) -> None:
    """A seed beyond 64 bits is refused on the page (it would wrap and play another seed's
    episodes), and a page whose config does not parse says so instead of staying blank."""
    sync_api = _browser_or_skip()
    broken = tmp_path / "broken.html"
    text = cartpole_page.read_text()
    start = text.index('<script type="application/json" id="thrust-config">')
    broken.write_text(text[: start + 52] + "{not json" + text[text.index("</script>", start) :])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(cartpole_page.as_uri() + f"?selftest=1&seed={2**64 + 1}")
            page.wait_for_function(
                "document.getElementById('thrust-result').textContent.length > 0", timeout=30000
            )
            assert json.loads(page.text_content("#thrust-result"))["seed"] == "0"
            assert page.is_visible("#thrust-error")
            assert "seed must be an integer in [0, 2**64)" in page.text_content("#thrust-error")
            page.goto(cartpole_page.as_uri() + "?seed=5")
            assert not page.is_visible("#thrust-error")
            page.goto(broken.as_uri())
            page.wait_for_selector("#thrust-error", state="visible", timeout=30000)
            assert "This page could not start" in page.text_content("#thrust-error")
        finally:
            browser.close()
