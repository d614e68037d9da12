"""Published presets: tuned settings per env, as data.

Each entry maps an env id to (static PPOConfig fields, HParams fields). How each was
found (the searches, their seeds and what each setting reached) is in
`scripts/results/tuning/` (one folder per search; `PRESET_NOTES.md` keeps the notes that
used to stand here); `tests/test_learning.py` checks what each reaches.
"""

from __future__ import annotations

from typing import Any

from ppo_jax.config.config import PPOConfig, apply_overrides

_PRESETS: dict[str, tuple[dict, dict]] = {
    "CartPole-v1": (dict(total_timesteps=149_760, num_envs=8, num_steps=32, activation="relu"),
                    dict(learning_rate=5e-4)),
    "Acrobot-v1": (
        dict(total_timesteps=499_712, num_envs=8, num_steps=128, normalize_observations=True),
        dict(learning_rate=3e-3, gamma=0.98, gae_lambda=0.85, ent_coef=0.0),
    ),
    "Pendulum-v1": (
        dict(total_timesteps=999_424, num_envs=16, num_steps=128, num_minibatches=8,
             update_epochs=10, normalize_observations=True, normalize_rewards=True,
             clip_value_loss=False),
        dict(learning_rate=2e-4, gamma=0.99, gae_lambda=0.85, ent_coef=0.0, max_grad_norm=0.5),
    ),
    "Breakout-MinAtar": (
        dict(total_timesteps=9_994_240, num_envs=64, num_steps=128, num_minibatches=8,
             hidden_sizes=(256, 256), activation="relu"),
        dict(learning_rate=1e-3, gamma=0.999),
    ),
}

for _game in ("Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar", "Seaquest-MinAtar"):
    _PRESETS[_game] = _PRESETS["Breakout-MinAtar"]

_BLINES = dict(num_steps=32, activation="relu")
_PRESETS.update({
    "Catch-bsuite": (dict(total_timesteps=99_840, num_envs=16, **_BLINES),
                     dict(learning_rate=2.5e-3, max_grad_norm=1.0)),
    "DeepSea-bsuite": (dict(total_timesteps=149_760, num_envs=8, **_BLINES), dict(learning_rate=5e-4)),
    "DiscountingChain-bsuite": (dict(total_timesteps=149_760, num_envs=8, **_BLINES),
                                dict(learning_rate=2.5e-3)),
    "UmbrellaChain-bsuite": (dict(total_timesteps=149_760, num_envs=8, **_BLINES),
                             dict(learning_rate=2.5e-3)),
    "SimpleBandit-bsuite": (dict(total_timesteps=99_840, num_envs=8, **_BLINES),
                            dict(learning_rate=2.5e-3)),
    "MountainCar-v0": (dict(total_timesteps=249_856, num_envs=16, update_epochs=64,
                            normalize_observations=True, **_BLINES),
                       dict(learning_rate=2.5e-3, ent_coef=0.01, max_grad_norm=1.0)),
    "MountainCarContinuous-v0": (dict(total_timesteps=999_424, num_envs=8, num_steps=256,
                                      num_minibatches=32, update_epochs=10,
                                      normalize_observations=True, normalize_rewards=True,
                                      clip_value_loss=False),
                                 dict(learning_rate=3e-4, ent_coef=0.0, max_grad_norm=1e6)),
    "FourRooms-misc": (dict(total_timesteps=199_680, num_envs=16, **_BLINES),
                       dict(learning_rate=1e-3, max_grad_norm=1.0)),
})

_HIDDEN_TASK = dict(total_timesteps=499_712, num_envs=16)
_PRESETS.update({
    "MetaMaze-misc": (dict(_HIDDEN_TASK), dict(learning_rate=2.5e-3)),
    "PointRobot-misc": (dict(network="gru", rnn_size=64, **_HIDDEN_TASK), dict(learning_rate=2.5e-3)),
    "BernoulliBandit-misc": (dict(network="gru", rnn_size=64, **_HIDDEN_TASK),
                             dict(learning_rate=2.5e-3)),
    "GaussianBandit-misc": (dict(_HIDDEN_TASK), dict(learning_rate=5e-4)),
    "Reacher-misc": (dict(total_timesteps=499_712), dict(learning_rate=2.5e-3)),
    "Swimmer-misc": (dict(total_timesteps=499_712), dict(learning_rate=1e-3)),
    "FrozenLake-misc": (dict(total_timesteps=499_712), dict(learning_rate=2.5e-4)),
    "Pong-misc": (dict(total_timesteps=499_712), dict(learning_rate=1e-3)),
})

_PRESETS.update({
    "MaskedCartPole-v1": (
        dict(network="gru", hidden_sizes=(128,), activation="relu", rnn_size=128,
             total_timesteps=999_424, num_envs=16, num_steps=128, num_minibatches=8),
        dict(learning_rate=1e-3, ent_coef=0.0),
    ),
    "MemoryChain-bsuite": (
        dict(network="gru", hidden_sizes=(64,), rnn_size=64, total_timesteps=102_400, num_envs=8,
             num_steps=128),
        dict(learning_rate=1e-3),
    ),
})

_BRAX_PAPER = dict(num_envs=8, num_steps=256, num_minibatches=32, update_epochs=10,
                   normalize_observations=True, normalize_rewards=True, clip_value_loss=False)
_BRAX_PAPER_HP = dict(learning_rate=3e-4, ent_coef=0.0, max_grad_norm=1e6)
_PRESETS.update({
    "navix/Navix-Empty-8x8-v0": (dict(total_timesteps=204_800, num_envs=16, num_steps=128),
                                 dict(learning_rate=1e-3)),
    "navix/Navix-DoorKey-5x5-v0": (dict(total_timesteps=409_600, num_envs=16, num_steps=128),
                                   dict(learning_rate=1e-3)),
    "brax/inverted_double_pendulum": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    "brax/hopper": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    "brax/walker2d": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    "brax/reacher": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    "brax/halfcheetah": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    "brax/ant": (dict(_BRAX_PAPER, total_timesteps=999_424), _BRAX_PAPER_HP),
    "craftax/Craftax-Classic-Symbolic-v1": (dict(total_timesteps=1_048_576, num_envs=16, num_steps=128,
                                                 hidden_sizes=(256, 256)),
                                            dict(learning_rate=1e-3)),
    "brax/inverted_pendulum": (dict(total_timesteps=524_288, num_envs=16, num_steps=128,
                                    normalize_observations=True, normalize_rewards=True),
                               dict(learning_rate=1e-3, ent_coef=0.0)),
})

def preset_envs() -> tuple[str, ...]:
    """The env ids that have a tuned `preset` (the others get the defaults)."""
    return tuple(_PRESETS)

def preset(env_id: str, **overrides: Any) -> PPOConfig:
    """Tuned `PPOConfig` for `env_id` (defaults where there is no preset yet).

    `overrides` may name static `PPOConfig` fields or `HParams` fields.

    Examples:
      >>> import ppo_jax
      >>> config = ppo_jax.preset("CartPole-v1", num_envs=8, learning_rate=1e-3)
      >>> config.num_envs, float(config.hparams.learning_rate)
      (8, 0.001)
    """
    base = PPOConfig(env=env_id)
    static, hp = _PRESETS.get(env_id, ({}, {}))
    config = apply_overrides(base, {**static, **hp})
    return apply_overrides(config, overrides) if overrides else config
