"""Networks: the LAPACK-free orthogonal initializer against a QR reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax.networks.init import _orthonormal_columns, orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (400, 64), (64, 2), (64, 1)],
                         ids=["wide", "square", "tall-minatar", "policy-head", "value-head"])
def test_orthogonal_matches_sign_fixed_qr(shape):
    """Same matrix as numpy's QR with diag(R) made positive (flax's convention)."""
    key = jax.random.key(3)
    n_rows, n_cols = shape
    tall = (max(shape), min(shape))
    a = np.asarray(jax.random.normal(key, tall, jnp.float32), np.float64)
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    expected = 1.7 * (q.T if n_rows < n_cols else q)
    got = np.asarray(orthogonal(1.7)(key, shape))
    np.testing.assert_allclose(got, expected, atol=2e-5)
    gram = got.T @ got if n_rows >= n_cols else got @ got.T
    np.testing.assert_allclose(gram, 1.7**2 * np.eye(min(shape)), atol=1e-4)


def test_orthonormal_columns_vmaps_over_a_large_population():
    """256 batched inits: the case where batched LAPACK QR hung on 2 CPU cores."""
    keys = jax.random.split(jax.random.key(0), 256)
    qs = jax.jit(jax.vmap(lambda k: _orthonormal_columns(jax.random.normal(k, (64, 64)))))(keys)
    eye = jnp.einsum("bij,bik->bjk", qs, qs)
    np.testing.assert_allclose(np.asarray(eye), np.broadcast_to(np.eye(64), eye.shape), atol=1e-4)


def test_population_init_of_128_agents_finishes():
    config = ppo_jax.PPOConfig(num_envs=2, num_steps=8, num_minibatches=2, total_timesteps=16)
    trainer = ppo_jax.make_trainer(config)
    states = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))(
        jax.random.split(jax.random.key(0), 128), config.hparams
    )
    assert states.update_step.shape == (128,)


def _sign_fixed_qr(a: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(np.asarray(a, np.float64))
    return q * np.sign(np.diag(r))


def test_orthogonal_kernels_are_the_qr_of_one_shared_draw():
    """Layer l's kernel is scale * Q of the tall corner of slice l of one normal draw."""
    from ppo_jax.networks.init import orthogonal_kernels

    shapes = [(4, 64), (64, 64), (64, 2), (400, 64), (64, 1)]
    scales = [1.5, np.sqrt(2.0), 0.01, 1.0, 1.0]
    key = jax.random.key(7)
    got = jax.jit(lambda k: orthogonal_kernels(k, shapes, scales))(key)
    draw = np.asarray(jax.random.normal(key, (len(shapes), 400, 64), jnp.float32))
    for i, (shape, scale) in enumerate(zip(shapes, scales)):
        rows, cols = max(shape), min(shape)
        q = _sign_fixed_qr(draw[i, :rows, :cols])
        expected = scale * (q.T if shape[0] < shape[1] else q)
        assert got[i].shape == shape
        np.testing.assert_allclose(np.asarray(got[i]), expected, atol=2e-5, err_msg=str(shape))


def _assert_orthogonal(kernel, gain, msg=""):
    kernel = np.asarray(kernel, np.float64)
    gram = kernel.T @ kernel if kernel.shape[0] >= kernel.shape[1] else kernel @ kernel.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(kernel.shape)), atol=1e-5, err_msg=msg)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_init_params_has_the_module_tree_and_gains(env_id):
    """Same tree and shapes as `unbox(network.init)`; kernels orthogonal with the
    module's gains (sqrt 2 hidden, 0.01 policy head, 1 value head); zeros else."""
    from flax import linen as nn

    from ppo_jax.core.context import make_context
    from ppo_jax.networks.init import init_params

    ctx = make_context(ppo_jax.preset(env_id))
    obs_dim = ctx.adapter.spec.obs_dim
    got = init_params(ctx.network, jax.random.key(0), obs_dim)
    ref = nn.unbox(ctx.network.init(jax.random.key(0), jnp.zeros((1, obs_dim))))
    assert jax.tree.structure(got) == jax.tree.structure(ref)
    assert jax.tree.map(jnp.shape, got) == jax.tree.map(jnp.shape, ref)
    gains = {"Dense_0": np.sqrt(2.0), "Dense_1": np.sqrt(2.0)}
    for net, head_gain in (("actor", 0.01), ("critic", 1.0)):
        for layer, params in got["params"][net].items():
            _assert_orthogonal(params["kernel"], gains.get(layer, head_gain), f"{net}/{layer}")
            _assert_orthogonal(ref["params"][net][layer]["kernel"], gains.get(layer, head_gain))
            np.testing.assert_array_equal(np.asarray(params["bias"]), 0.0)
    # different seeds, different kernels
    other = init_params(ctx.network, jax.random.key(1), obs_dim)
    assert not np.allclose(other["params"]["actor"]["Dense_1"]["kernel"],
                           got["params"]["actor"]["Dense_1"]["kernel"])


def test_init_params_reads_gains_from_the_module_not_from_layer_names():
    """Named layers, a LayerNorm between them and a non-zero bias init: every
    kernel still gets the gain its own initializer was given, and every other
    leaf comes from its own initializer."""
    from flax import linen as nn

    from ppo_jax.networks.init import init_params, orthogonal_kernel_init

    class Custom(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(32, name="encoder", kernel_init=orthogonal_kernel_init(3.0))(x)
            x = nn.LayerNorm(name="norm")(x)
            x = nn.Dense(16, name="Dense_7", kernel_init=orthogonal_kernel_init(0.5),
                         bias_init=nn.initializers.constant(0.25))(x)
            return nn.Dense(2, name="Dense_0", kernel_init=orthogonal_kernel_init(0.01))(x)

    params = init_params(Custom(), jax.random.key(0), 5)["params"]
    _assert_orthogonal(params["encoder"]["kernel"], 3.0, "encoder")
    _assert_orthogonal(params["Dense_7"]["kernel"], 0.5, "Dense_7")
    _assert_orthogonal(params["Dense_0"]["kernel"], 0.01, "Dense_0")
    np.testing.assert_array_equal(params["Dense_7"]["bias"], 0.25)
    np.testing.assert_array_equal(params["norm"]["scale"], 1.0)
    assert params["encoder"]["kernel"].shape == (5, 32)


def test_sample_from_noise_has_the_policy_distribution():
    """Gumbel-max samples follow softmax(logits); normal noise gives mean + std * z."""
    from ppo_jax.core.distributions import draw_policy_noise, sample_from_noise

    n = 200_000
    logits = jnp.array([0.3, -1.2, 1.0, 0.0])
    noise = draw_policy_noise(jax.random.key(0), (n, 4), discrete=True)
    actions = np.asarray(sample_from_noise({"logits": jnp.broadcast_to(logits, (n, 4))}, noise))
    freq = np.bincount(actions, minlength=4) / n
    probs = np.exp(np.asarray(logits, np.float64))
    probs /= probs.sum()
    # 5 standard errors of a frequency
    standard_error = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) < 5 * standard_error), (freq, probs)

    mean, log_std = jnp.array([1.0, -2.0]), jnp.log(jnp.array([0.5, 3.0]))
    noise = draw_policy_noise(jax.random.key(1), (n, 2), discrete=False)
    samples = np.asarray(sample_from_noise(
        {"mean": jnp.broadcast_to(mean, (n, 2)), "log_std": jnp.broadcast_to(log_std, (n, 2))}, noise))
    assert np.all(np.abs(samples.mean(0) - [1.0, -2.0]) < 5 * np.array([0.5, 3.0]) / np.sqrt(n))
    np.testing.assert_allclose(samples.std(0), [0.5, 3.0], rtol=0.01)


# flax's activations in numpy (nn.gelu's default is the tanh approximation)
NUMPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
}


def numpy_mlp(layers: dict, x: np.ndarray, activation) -> np.ndarray:
    """Dense_0, Dense_1, ... in order: x @ kernel + bias, the activation after all but the last."""
    names = sorted(layers, key=lambda name: int(name.removeprefix("Dense_")))
    for i, name in enumerate(names):
        x = x @ np.asarray(layers[name]["kernel"], np.float64) + np.asarray(layers[name]["bias"], np.float64)
        if i < len(names) - 1:
            x = activation(x)
    return x


@pytest.mark.parametrize("env_id, activation", [
    ("CartPole-v1", "tanh"), ("Acrobot-v1", "relu"), ("CartPole-v1", "gelu"),
    ("Pendulum-v1", "tanh"), ("MountainCarContinuous-v0", "silu"), ("Pendulum-v1", "elu"),
], ids=["discrete-tanh", "discrete-relu", "discrete-gelu", "box-tanh", "box-silu", "box-elu"])
def test_mlp_actor_critic_equals_a_numpy_forward_pass(make_tiny_config, env_id, activation):
    """Logits (Discrete) or Gaussian mean and log_std (Box), and the value, of separate
    actor and critic MLPs, recomputed with numpy matmuls from the flax params."""
    from ppo_jax.core.context import make_context
    from ppo_jax.networks.init import init_params

    config = make_tiny_config(env_id, hidden_sizes=(16, 8), activation=activation)
    ctx = make_context(config)
    spec = ctx.adapter.spec
    params = init_params(ctx.network, jax.random.key(0), spec.obs_dim)
    # Every leaf moved off its init: biases and log_std start at 0, which would hide a dropped one.
    leaves, treedef = jax.tree.flatten(params)
    noise = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(treedef, [x + 0.5 * jax.random.normal(k, x.shape)
                                          for x, k in zip(leaves, noise)])
    obs = np.random.default_rng(0).normal(size=(6, spec.obs_dim)) * 2.0
    dist, value = jax.jit(ctx.network.apply)(params, jnp.asarray(obs, jnp.float32))

    p = jax.tree.map(np.asarray, params["params"])
    act = NUMPY_ACTIVATIONS[activation]
    assert [p["actor"][f"Dense_{i}"]["kernel"].shape for i in range(3)] == [
        (spec.obs_dim, 16), (16, 8), (8, spec.policy_dim)]
    actor_out, critic_out = numpy_mlp(p["actor"], obs, act), numpy_mlp(p["critic"], obs, act)
    assert critic_out.shape == (6, 1)
    np.testing.assert_allclose(value, critic_out[:, 0], rtol=1e-5, atol=1e-5)
    if spec.discrete:
        assert set(dist) == {"logits"}
        np.testing.assert_allclose(dist["logits"], actor_out, rtol=1e-5, atol=1e-5)
    else:  # a state-independent log-std, the same for every observation
        assert set(dist) == {"mean", "log_std"}
        np.testing.assert_allclose(dist["mean"], actor_out, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dist["log_std"], np.broadcast_to(p["log_std"], actor_out.shape),
                                   rtol=1e-6)
    # the rollout's entry points (policy alone, value alone) compute the same
    policy_only = ctx.network.apply(params, jnp.asarray(obs, jnp.float32), method="policy")
    value_only = ctx.network.apply(params, jnp.asarray(obs, jnp.float32), method="value")
    np.testing.assert_allclose(value_only, critic_out[:, 0], rtol=1e-5, atol=1e-5)
    for name, got in policy_only.items():
        np.testing.assert_allclose(got, dist[name], rtol=1e-6, atol=1e-6)
