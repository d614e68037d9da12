"""PPOConfig / HParams: defaults, validation messages, presets and overrides."""

from __future__ import annotations

import dataclasses
import typing
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax import HParams, PPOConfig, preset
from ppo_jax.config.hparams import HPARAM_FIELDS


def test_defaults():
    config = PPOConfig()
    assert config.env == "CartPole-v1"
    assert (config.num_envs, config.num_steps) == (4, 128)
    assert config.num_minibatches == 4
    assert config.update_epochs == 4
    assert config.anneal_lr is True
    assert config.hidden_sizes == (64, 64)
    assert config.activation == "tanh"
    assert config.objective == "clip"
    hp = config.hparams
    assert hp.learning_rate == pytest.approx(2.5e-4)
    assert hp.gamma == pytest.approx(0.99)
    assert hp.gae_lambda == pytest.approx(0.95)
    assert hp.clip_eps == pytest.approx(0.2)
    assert hp.ent_coef == pytest.approx(0.01)
    assert hp.vf_coef == pytest.approx(0.5)
    assert hp.max_grad_norm == pytest.approx(0.5)


def test_derived_sizes():
    with pytest.warns(UserWarning, match="39 updates = 9984 env steps"):  # rounded down
        config = PPOConfig(num_envs=8, num_steps=32, num_minibatches=4, total_timesteps=10_000)
    assert config.batch_size == 256
    assert config.minibatch_size == 64
    assert config.num_updates == 10_000 // 256


def test_config_is_frozen_and_hashable():
    config = PPOConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_envs = 8  # type: ignore[misc]
    assert hash(config) == hash(PPOConfig())


def _error(**fields) -> str:
    with pytest.raises(ValueError) as info:
        PPOConfig(**fields)
    return str(info.value)


def test_unknown_env_lists_valid_ids():
    message = _error(env="NoSuchEnv-v0")
    assert "env" in message and "NoSuchEnv-v0" in message
    for env_id in ppo_jax.available_envs():
        assert env_id in message


def test_batch_not_divisible_names_the_three_numbers():
    message = _error(num_envs=3, num_steps=5, num_minibatches=4, total_timesteps=1000)
    assert "num_minibatches" in message
    for number in ("3", "5", "15", "4"):
        assert number in message


COUNT_FIELDS = ("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs")


@pytest.mark.parametrize("value", [0, -1, 2.5, True], ids=["zero", "negative", "float", "bool"])
@pytest.mark.parametrize("field", COUNT_FIELDS, ids=COUNT_FIELDS)
def test_counts_must_be_positive_integers(field, value):
    assert field in _error(**{field: value})


def test_total_timesteps_smaller_than_one_batch():
    message = _error(num_envs=4, num_steps=128, total_timesteps=511)
    assert "total_timesteps" in message and "512" in message
    assert PPOConfig(num_envs=4, num_steps=128, total_timesteps=512).num_updates == 1


# (field, bad value): out of range hyperparameters
BAD_HPARAMS = {
    "gamma_above_1": ("gamma", 1.01),
    "gamma_negative": ("gamma", -0.1),
    "gae_lambda_above_1": ("gae_lambda", 1.5),
    "gae_lambda_negative": ("gae_lambda", -0.01),
    "clip_eps_zero": ("clip_eps", 0.0),
    "clip_eps_negative": ("clip_eps", -0.2),
    "ent_coef_negative": ("ent_coef", -0.01),
    "vf_coef_negative": ("vf_coef", -0.5),
    "kl_coef_negative": ("kl_coef", -1.0),
    "learning_rate_zero": ("learning_rate", 0.0),
    "max_grad_norm_zero": ("max_grad_norm", 0.0),
    "gamma_nan": ("gamma", float("nan")),
    "dual_clip_coef_at_most_1": ("dual_clip_coef", 1.0),
}


def _unchecked_hparams(**values) -> HParams:
    """An HParams rebuilt the way JAX does (tree_unflatten), which skips the construction check."""
    default = HParams()
    leaves = [values.get(name, getattr(default, name)) for name in HPARAM_FIELDS]
    return jax.tree_util.tree_unflatten(jax.tree.structure(default), leaves)


@pytest.mark.parametrize("case", list(BAD_HPARAMS), ids=list(BAD_HPARAMS))
def test_bad_hparams_name_the_field(case):
    field, value = BAD_HPARAMS[case]
    # HParams checks concrete values when it is built ...
    with pytest.raises(ValueError, match=f"HParams.{field} must be in"):
        HParams(**{field: value})
    # ... and PPOConfig checks its hparams with the same function, here on an HParams
    # rebuilt by jax.tree.map (which skips construction checks)
    bad = _unchecked_hparams(**{field: value})
    assert field in _error(hparams=bad)
    # the same check applies to preset overrides and .replace
    with pytest.raises(ValueError, match=field):
        preset("CartPole-v1", **{field: value})
    with pytest.raises(ValueError, match=field):
        PPOConfig().replace(**{field: value})


@pytest.mark.parametrize("field", ["gamma", "gae_lambda"], ids=["gamma", "gae_lambda"])
@pytest.mark.parametrize("value", [0.0, 1.0], ids=["zero", "one"])
def test_unit_interval_bounds_are_inclusive(field, value):
    assert getattr(PPOConfig(hparams=HParams(**{field: value})).hparams, field) == value


def test_zero_coefficients_are_allowed():
    hp = HParams(ent_coef=0.0, vf_coef=0.0, kl_coef=0.0)
    assert PPOConfig(hparams=hp).hparams.ent_coef == 0.0


def test_batched_hparams_are_checked_elementwise():
    with pytest.raises(ValueError, match="gamma"):
        PPOConfig(hparams=HParams(gamma=np.array([0.9, 0.99, 1.2])))
    PPOConfig(hparams=HParams(gamma=np.array([0.9, 0.99, 1.0])))


BAD_CHOICES = {
    "objective": ("objective", "trpo"),
    "activation": ("activation", "sigmoid"),
    "hidden_sizes_empty": ("hidden_sizes", ()),
    "hidden_sizes_zero": ("hidden_sizes", (64, 0)),
    "anneal_lr_not_bool": ("anneal_lr", "yes"),
}


@pytest.mark.parametrize("case", list(BAD_CHOICES), ids=list(BAD_CHOICES))
def test_bad_choices_name_the_field(case):
    field, value = BAD_CHOICES[case]
    message = _error(**{field: value})
    assert field in message
    assert repr(value) in message


def test_objective_message_lists_the_valid_objectives():
    message = _error(objective="trpo")
    for name in ("clip", "none", "kl_penalty", "adaptive_kl"):
        assert name in message


# ---------------------------------------------------------------------------
# presets and overrides
# ---------------------------------------------------------------------------

def test_preset_overrides_static_and_hparams_fields():
    config = preset("CartPole-v1", num_envs=8, num_steps=64, learning_rate=1e-3, clip_eps=0.1)
    assert config.env == "CartPole-v1"
    assert (config.num_envs, config.num_steps) == (8, 64)
    assert config.hparams.learning_rate == pytest.approx(1e-3)
    assert config.hparams.clip_eps == pytest.approx(0.1)
    # untouched fields keep the preset's values
    base = preset("CartPole-v1")
    assert config.update_epochs == base.update_epochs
    assert config.hparams.gamma == base.hparams.gamma


def test_preset_overrides_win_over_tuned_values():
    tuned = preset("Pendulum-v1")
    assert tuned.env == "Pendulum-v1"
    assert tuned.hparams.gae_lambda != PPOConfig().hparams.gae_lambda  # the preset tunes lambda
    config = preset("Pendulum-v1", gae_lambda=0.5, num_envs=2, num_steps=16, num_minibatches=2)
    assert config.hparams.gae_lambda == 0.5
    assert config.num_envs == 2
    # everything else stays tuned
    assert config.hparams.learning_rate == tuned.hparams.learning_rate
    assert config.normalize_observations == tuned.normalize_observations


def test_every_gymnax_env_has_a_preset():
    """Issue 14: a preset for every env gymnax registers (MNISTBandit-bsuite, which
    downloads MNIST, is not offered at all)."""
    untuned = [env for env in ppo_jax.available_envs() if env not in ppo_jax.preset_envs()]
    assert untuned == [], untuned


def test_preset_without_tuning_is_the_defaults():
    # every gymnax env has one now; Brax's humanoid has none
    assert "brax/humanoid" in ppo_jax.available_envs(suites=True)
    assert "brax/humanoid" not in ppo_jax.preset_envs()
    assert preset("brax/humanoid") == PPOConfig(env="brax/humanoid")


def test_preset_unknown_override_raises():
    with pytest.raises(ValueError, match="learnin_rate") as info:
        preset("CartPole-v1", learnin_rate=1e-3)
    assert "learning_rate" in str(info.value)  # lists the valid names


def test_preset_unknown_env_raises():
    with pytest.raises(ValueError, match="NoSuchEnv"):
        preset("NoSuchEnv")


def test_replace_validates_and_keeps_the_original():
    config = PPOConfig()
    changed = config.replace(num_envs=8, gamma=0.9)
    assert changed.num_envs == 8 and changed.hparams.gamma == 0.9
    assert config.num_envs == 4 and config.hparams.gamma == 0.99
    with pytest.raises(ValueError, match="num_envs"):
        config.replace(num_envs=0)
    with pytest.raises(ValueError, match="bogus"):
        config.replace(bogus=1)


def test_dict_round_trip():
    config = preset("Pendulum-v1", hidden_sizes=(32, 16), ent_coef=0.02)
    assert PPOConfig.from_dict(config.to_dict()) == config



# ------------------------------------------- first-hour mistakes (issue 11) ---


def test_an_hparams_field_given_to_ppoconfig_points_at_hparams():
    with pytest.raises(ValueError, match=r"'learning_rate' is an HParams field.*hparams=HParams"):
        PPOConfig(learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"unknown setting 'num_env'; valid PPOConfig fields: env, "):
        PPOConfig(num_env=4)


def test_a_one_sample_minibatch_is_rejected():
    with pytest.raises(ValueError, match="minibatch of 1 sample.*normalizes every advantage to zero"):
        PPOConfig(num_envs=1, num_steps=4, num_minibatches=4, total_timesteps=8)
    assert PPOConfig(num_envs=1, num_steps=4, num_minibatches=2, total_timesteps=8).minibatch_size == 2


@pytest.mark.parametrize("make_key", [lambda: __import__("jax").random.key(0),
                                      lambda: __import__("jax").random.PRNGKey(0)], ids=["typed", "legacy"])
def test_a_prng_key_passed_as_seed_is_named(make_key):
    import ppo_jax

    with pytest.raises(ValueError, match=r"seed must be an integer.*a PRNG key: pass the integer"):
        ppo_jax.train_seeds(PPOConfig(), num_seeds=2, seed=make_key())


# ------------------------------------ core library behaviour (issue 11, part A) ---


def test_hparams_with_concrete_values_are_checked_when_built():
    for bad, message in [(dict(learning_rate=-1e-3), r"HParams.learning_rate must be in \(0.0, inf\]"),
                         (dict(gamma=5.0), r"HParams.gamma must be in \[0.0, 1.0\], got 5.0")]:
        with pytest.raises(ValueError, match=message):
            HParams(**bad)
        with pytest.raises(ValueError, match=message):
            HParams().replace(**bad)
    # numpy and jax scalars and arrays are values too
    with pytest.raises(ValueError, match="HParams.gamma"):
        HParams(gamma=jnp.float32(5.0))
    with pytest.raises(ValueError, match="HParams.clip_eps"):
        HParams(clip_eps=jnp.asarray([0.1, -0.2]))


def test_hparams_rebuilt_by_jax_are_not_checked():
    """JAX rebuilds the pytree with tracers, placeholders, gradients and axis numbers."""
    hp = HParams()
    assert jax.tree.map(lambda x: -x, hp).learning_rate == -hp.learning_rate  # e.g. a gradient
    assert jax.tree.map(lambda x: 0, hp).gamma == 0
    grads = jax.grad(lambda h: -h.learning_rate * h.gamma)(jax.tree.map(jnp.float32, hp))
    assert float(grads.gamma) == pytest.approx(-hp.learning_rate)
    # an in_axes spec (None marks it) is not hyperparameter values
    spec = jax.tree.map(lambda _: None, hp).replace(learning_rate=0)
    lrs = jnp.asarray([1e-3, 2e-3])
    out = jax.vmap(lambda h: h.learning_rate * h.gamma, in_axes=(spec,))(hp.replace(learning_rate=lrs))
    np.testing.assert_allclose(out, lrs * hp.gamma, rtol=1e-6)
    # tracers inside jit are passed through, and rebuilt ones too
    doubled = jax.jit(lambda h: h.replace(learning_rate=h.learning_rate * 2))(hp)
    assert float(doubled.learning_rate) == pytest.approx(2 * hp.learning_rate)


@pytest.mark.parametrize("value", ["3e-4", b"3e-4", True, np.bool_(False), [1e-3, 3e-4],
                                   np.array(["3e-4"])],
                         ids=["str", "bytes", "bool", "numpy_bool", "list", "str_array"])
def test_strings_and_bools_are_not_numbers(value):
    """A string or bool is rejected wherever a hyperparameter is given, as sweep does."""
    match = r"HParams.learning_rate must be a number"
    with pytest.raises(ValueError, match=match):
        HParams(learning_rate=value)
    with pytest.raises(ValueError, match=match):
        PPOConfig().replace(learning_rate=value)
    with pytest.raises(ValueError, match=match):
        preset("CartPole-v1", learning_rate=value)
    with pytest.raises(ValueError, match=match):
        PPOConfig(hparams=_unchecked_hparams(learning_rate=value))


@pytest.mark.parametrize("field, value", [("total_timesteps", "1000"), ("num_envs", True),
                                          ("hidden_sizes", (64, "64")), ("anneal_lr", "True")],
                         ids=["str_count", "bool_count", "str_width", "str_flag"])
def test_strings_and_bools_for_static_numbers_are_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        PPOConfig().replace(**{field: value})


def test_hparams_fields_have_real_types():
    hints = typing.get_type_hints(HParams)
    assert set(hints) == set(HPARAM_FIELDS)
    for name, hint in hints.items():
        assert set(typing.get_args(hint)) == {float, jax.Array, np.ndarray}, name
    # ... and it is still a pytree whose leaves are the fields
    assert len(jax.tree.leaves(HParams())) == len(HPARAM_FIELDS)


def test_a_budget_that_is_not_a_multiple_of_the_batch_warns_with_the_exact_steps():
    with pytest.warns(UserWarning) as record:
        config = PPOConfig(total_timesteps=1000)
    message = str(record[0].message)
    assert record[0].filename == __file__  # points at the caller's line
    for part in ("total_timesteps = 1000", "num_envs * num_steps = 4 * 128 = 512",
                 "1 update = 512 env steps will run"):
        assert part in message
    assert config.steps_run == 512
    assert "total_timesteps=1000 (runs 512: 1 update x 512)" in repr(config)
    with pytest.warns(UserWarning, match="104 updates = 9984 env steps will run [(]16 fewer[)]"):
        PPOConfig().replace(total_timesteps=10_000, num_envs=2, num_steps=48, num_minibatches=2)


def test_budgets_of_whole_updates_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        configs = [PPOConfig(), PPOConfig(total_timesteps=1024)]
        configs += [preset(env) for env in ("CartPole-v1", "Acrobot-v1", "Pendulum-v1")]
    assert "total_timesteps=499712 (runs 499712: 976 updates x 512)" in repr(configs[0])
    for config in configs:
        assert config.total_timesteps == config.steps_run
