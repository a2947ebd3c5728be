"""The single-agent Thrust IDs the tests sweep over, with Gymnasium's reference for each."""

REFERENCES = {
    "Thrust/CartPole-v1": "CartPole-v1",
    "Thrust/Pendulum-v1": "Pendulum-v1",
    "Thrust/MountainCar-v0": "MountainCar-v0",
    "Thrust/MountainCarContinuous-v0": "MountainCarContinuous-v0",
    "Thrust/Acrobot-v1": "Acrobot-v1",
}
ALL_IDS = list(REFERENCES)
