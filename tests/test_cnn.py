"""network="cnn": a convolutional torso for image observations (MinAtar).

The forward pass is checked against a plain numpy convolution, the kernels
against flax's orthogonal-init convention, and the option end to end: it
trains, saves and loads, and bad choices fail before anything compiles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import ppo_jax
from ppo_jax.core.context import describe_network, make_context
from ppo_jax.envs.spec import EnvSpec
from ppo_jax.networks.init import init_params, orthogonal
from ppo_jax.networks.registry import make_network

OBS_SHAPE = (6, 5, 2)


def cnn_config(**changes) -> ppo_jax.PPOConfig:
    base = dict(env="Breakout-MinAtar", network="cnn", conv_channels=(4, 3), hidden_sizes=(8,),
                activation="relu", num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1,
                total_timesteps=64)
    return ppo_jax.PPOConfig(**{**base, **changes})


def numpy_conv3x3_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x [N, H, W, C], kernel [3, 3, C, O] -> [N, H - 2, W - 2, O], as loops (cross-correlation)."""
    n, h, w, _ = x.shape
    out = np.zeros((n, h - 2, w - 2, kernel.shape[-1]))
    for i in range(h - 2):
        for j in range(w - 2):
            patch = x[:, i:i + 3, j:j + 3, :]  # [N, 3, 3, C]
            out[:, i, j, :] = np.einsum("nabc,abco->no", patch, kernel) + bias
    return out


def numpy_head(x: np.ndarray, layers: dict, act) -> np.ndarray:
    """Dense_0 .. Dense_k with `act` between (not after the last)."""
    names = sorted(layers, key=lambda k: int(k.split("_")[1]))
    for i, name in enumerate(names):
        x = x @ np.asarray(layers[name]["kernel"], np.float64) + np.asarray(layers[name]["bias"])
        if i < len(names) - 1:
            x = act(x)
    return x


def test_cnn_forward_equals_a_numpy_convolution():
    spec = EnvSpec(obs_dim=int(np.prod(OBS_SHAPE)), obs_shape=OBS_SHAPE, num_actions=3)
    config = cnn_config(activation="tanh")
    network = make_network(config, spec)
    params = init_params(network, jax.random.key(0), spec.obs_dim)
    # non-zero biases, so a bias bug shows
    params = jax.tree.map(lambda x: x + 0.05 if x.ndim == 1 else x, params)
    obs = np.asarray(jax.random.normal(jax.random.key(1), (2, 7, spec.obs_dim)), np.float64)  # [T, B, D]
    dist, value = network.apply(params, jnp.asarray(obs, jnp.float32))
    assert dist["logits"].shape == (2, 7, 3) and value.shape == (2, 7)

    p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)["params"]
    for head, torso, got in (("actor", "actor_torso", dist["logits"]), ("critic", "critic_torso", value)):
        x = obs.reshape((-1,) + OBS_SHAPE)
        for conv in ("Conv_0", "Conv_1"):
            x = np.tanh(numpy_conv3x3_valid(x, p[torso][conv]["kernel"], p[torso][conv]["bias"]))
        assert x.shape == (14, 2, 1, 3)
        expected = numpy_head(x.reshape(14, -1), p[head], np.tanh)
        expected = expected.reshape(2, 7, -1)
        if head == "critic":
            expected = expected[..., 0]
        np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-4, atol=2e-5, err_msg=head)


def test_conv_kernels_are_orthogonal_with_gain_sqrt2_in_flax_convention():
    """A [3, 3, C, O] kernel reshaped to [9 C, O] has orthogonal columns x sqrt 2,
    as flax's `orthogonal(column_axis=-1)` draws it; heads keep their gains."""
    ctx = make_context(cnn_config(conv_channels=(16,)))
    params = init_params(ctx.network, jax.random.key(0), ctx.adapter.spec.obs_dim)["params"]
    ref = nn.unbox(ctx.network.init(jax.random.key(0), jnp.zeros((1, ctx.adapter.spec.obs_dim))))["params"]
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, ref)
    for torso in ("actor_torso", "critic_torso"):
        kernel = np.asarray(params[torso]["Conv_0"]["kernel"], np.float64)
        assert kernel.shape == (3, 3, 4, 16)  # Breakout-MinAtar: 10 x 10 x 4
        matrix = kernel.reshape(36, 16)
        np.testing.assert_allclose(matrix.T @ matrix, 2.0 * np.eye(16), atol=1e-5)
        np.testing.assert_array_equal(params[torso]["Conv_0"]["bias"], 0.0)
    head = np.asarray(params["actor"]["Dense_1"]["kernel"], np.float64)
    np.testing.assert_allclose(head.T @ head, 0.01**2 * np.eye(head.shape[1]), atol=1e-8)


def test_orthogonal_of_a_conv_shape_is_flax_s_column_convention():
    """orthogonal(g)(key, [kh, kw, i, o]) == flax orthogonal(g) in distribution: the
    [kh kw i, o] matrix has orthogonal columns (the old rows = shape[0] rule did not)."""
    kernel = np.asarray(orthogonal(1.3)(jax.random.key(2), (3, 3, 2, 5)), np.float64).reshape(18, 5)
    np.testing.assert_allclose(kernel.T @ kernel, 1.69 * np.eye(5), atol=1e-5)


def test_cnn_trains_saves_loads_and_evaluates(tmp_path, fast_jit):
    config = cnn_config()
    out = fast_jit(ppo_jax.make_train(config))(jax.random.key(0))
    assert np.all(np.isfinite(np.asarray(out.metrics["value_loss"])))
    np.testing.assert_array_equal(np.asarray(out.metrics["diverged"]), 0.0)
    ppo_jax.save(tmp_path / "ckpt", config, out.state)
    loaded_config, state = ppo_jax.load(tmp_path / "ckpt", config)
    assert loaded_config.network == "cnn" and loaded_config.conv_channels == (4, 3)
    returns = ppo_jax.evaluate(loaded_config, state, jax.random.key(1), num_episodes=2)
    assert returns.shape == (2,)
    # an MLP config does not load a CNN agent
    with pytest.raises(ppo_jax.CheckpointError, match="network: checkpoint 'cnn', given 'mlp'"):
        ppo_jax.load(tmp_path / "ckpt", config.replace(network="mlp"))


def test_describe_network_names_the_torso():
    ctx = make_context(cnn_config(conv_channels=(16,), hidden_sizes=(32,)))
    shapes = jax.tree.map(jnp.shape, init_params(ctx.network, jax.random.key(0), ctx.adapter.spec.obs_dim))
    from ppo_jax.core.context import _shapes
    text = describe_network(_shapes(init_params(ctx.network, jax.random.key(0), ctx.adapter.spec.obs_dim)))
    assert text == ("cnn: 4 observation channels, conv channels (16,), 1024 torso features, "
                    "3 policy outputs, hidden sizes (32,)")
    assert shapes["params"]["actor"]["Dense_0"]["kernel"] == (1024, 32)


def test_an_mlp_agent_does_not_fit_a_cnn_config():
    mlp = cnn_config(network="mlp")
    state = ppo_jax.make_trainer(mlp).init(jax.random.key(0))
    with pytest.raises(ValueError, match="does not fit the config.*cnn: 4 observation channels"):
        ppo_jax.make_policy(cnn_config(), state)


@pytest.mark.parametrize("changes, match", [
    (dict(network="rnn"), "PPOConfig.network 'rnn' is not one of mlp, cnn"),
    (dict(conv_channels=()), "PPOConfig.conv_channels must be a non-empty tuple"),
    (dict(conv_channels=(16, 0)), "PPOConfig.conv_channels must be a non-empty tuple"),
])
def test_bad_network_settings_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        cnn_config(**changes)


@pytest.mark.parametrize("changes, match", [
    (dict(env="CartPole-v1"), r"needs image observations.*CartPole-v1 has observations of shape \(4,\)"),
    (dict(conv_channels=(4, 4, 4, 4, 4)), r"larger than 10 x 10.*shape \(10, 10, 4\)"),
])
def test_cnn_on_an_env_without_images_fails_before_compiling(changes, match, monkeypatch):
    def no_compile(*args, **kwargs):
        raise AssertionError("compiled before the check")

    monkeypatch.setattr(jax, "jit", no_compile)
    with pytest.raises(ValueError, match=match):
        ppo_jax.make_train(cnn_config(**changes))


def test_config_round_trips_and_old_dicts_default_to_mlp():
    config = cnn_config(conv_channels=[8, 8])
    assert config.conv_channels == (8, 8)
    assert ppo_jax.PPOConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in cnn_config(network="mlp").to_dict().items()
           if k not in ("network", "conv_channels")}
    assert ppo_jax.PPOConfig.from_dict(old).network == "mlp"
