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
    # MuJoCo Playground's Brax PPO for DM Control (mujoco_playground 0.2.0,
    # config/dm_control_suite_params.py, brax_ppo_config; Brax's PPO defaults where it sets
    # none): num_timesteps 60M (rounded down to 61 whole batches), num_envs 2048, and its batch
    # per update, batch_size 1024 x num_minibatches 32 x unroll_length 30 = 983,040 steps, as
    # 480 steps of each of the 2048 envs; num_updates_per_batch 16 = update_epochs; discounting
    # 0.995, learning_rate 1e-3 (constant: anneal_lr off), entropy_cost 1e-2, clipping_epsilon
    # 0.3, gae_lambda 0.95, vf 0.5, no gradient clipping, no value clipping, observations
    # normalized. Not mapped exactly: reward_scaling 10 (normalize_rewards instead), Brax's
    # tanh-normal policy (a clipped Gaussian here), and its two networks (policy 4 x 32, value
    # 5 x 256, swish): one size for both here, the value net's width at the policy's depth.
    **{f"playground/{name}": (
        dict(total_timesteps=59_965_440, num_envs=2048, num_steps=480, num_minibatches=32,
             update_epochs=16, hidden_sizes=(256, 256, 256, 256), activation="silu",
             normalize_observations=True, normalize_rewards=True, clip_value_loss=False,
             anneal_lr=False),
        dict(learning_rate=1e-3, gamma=0.995, gae_lambda=0.95, clip_eps=0.3, ent_coef=0.01,
             vf_coef=0.5, max_grad_norm=1e6))
       for name in ("CartpoleBalance", "CartpoleSwingup", "WalkerWalk")},
    # XLand-MiniGrid's single-task PPO (corl-team/xland-minigrid, training/train_single_task.py
    # and configs/single.yaml): lr 1e-3 annealed, gamma 0.99, lambda 0.95, clip 0.2, ent 0.01, vf 0.5,
    # grad norm 0.5 (ppo_jax's defaults but lr). Its batches (8,192-16,384 envs, 1 epoch of 16
    # minibatches) are a GPU's: at 128 envs x 16 steps that collapsed 1 of 4 seeds on Empty-6x6, so
    # 16 envs x 128 steps, 4 epochs of 4 minibatches (as Navix's rooms), and an MLP on the view.
    "xminigrid/MiniGrid-Empty-6x6": (dict(total_timesteps=262_144, num_envs=16, num_steps=128),
                                     dict(learning_rate=1e-3)),
    "xminigrid/MiniGrid-DoorKey-5x5": (dict(total_timesteps=1_048_576, num_envs=16, num_steps=128),
                                       dict(learning_rate=1e-3)),
    "xminigrid/MiniGrid-DoorKey-8x8": (dict(total_timesteps=4_194_304, num_envs=16, num_steps=128),
                                       dict(learning_rate=1e-3)),
    # Jumanji: its A2C configs (jumanji 1.1.2, jumanji/training/configs/env/<env>.yaml):
    # num_envs = total_batch_size, num_steps = n_steps, total_timesteps = num_epochs x
    # num_learner_steps_per_epoch x n_steps x total_batch_size, gamma = discount_factor,
    # gae_lambda = bootstrapping_factor, ent_coef = l_en, learning_rate. 2048's rewards
    # (merged tiles, hundreds a step) are normalized (ours, not Jumanji's).
    "jumanji/Game2048-v1": (dict(total_timesteps=96_000_000, num_envs=32, num_steps=50,
                                 normalize_rewards=True),  # game_2048.yaml
                            dict(learning_rate=2e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.01)),
    "jumanji/Maze-v0": (dict(total_timesteps=64_000_000, num_envs=128, num_steps=10),  # maze.yaml
                        dict(learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.01)),
    "jumanji/Snake-v1": (dict(total_timesteps=256_000_000, num_envs=128, num_steps=20),  # snake.yaml
                         dict(learning_rate=3e-4, gamma=0.997, gae_lambda=0.95, ent_coef=0.01)),
    "jumanji/Minesweeper-v0": (dict(total_timesteps=25_600_000, num_envs=128, num_steps=10),  # minesweeper.yaml
                               dict(learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.01)),
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
