"""A fused training program for the 2-D study's grid: plain JAX, one program per (depth, activation, optimizer).

The study's grid nets are all one family: Dense(20, act) → Dropout(rate) → (depth − 1) ×
Dense(20, act) → Dense(1, output activation), glorot-uniform kernels, zero biases,
batch 32, each optimizer at its Keras defaults. The Keras fleet (`fleet.py`) compiles
one program per structural config (400 for the full grid) and unrolls every layer, so
compile time grows with depth and dominates. Here:

- the hidden layers are one `lax.scan` over stacked (depth − 1, 20, 20) kernels, so a
  program's compile time does not grow with depth;
- output activation (sigmoid → binary cross-entropy, tanh/relu/elu → MSE on 0/1
  labels, as the study decides) and dropout rate are per-member data, selected with
  `jnp.where`; so is the learning rate;
- members (folds × output activations × dropout rates) are `vmap`ped over a scan of
  epochs of a scan of minibatches, as in the fleet: per epoch a member's rows are
  shuffled (real rows first), the last partial batch averages over its real rows.

Optimizer updates are Keras 3's formulas (SGD, RMSprop ρ=0.9, Adagrad with
accumulator 0.1, Adam, Nadam with its momentum schedule; ε = 1e-7). Random numbers
are JAX's threefry (not the fleet's stream), so a member's numbers are not the
fleet's bit for bit: equal accuracy is a statistical claim, checked in
`tests/test_study_synthetic2d.py` against the fleet on a sample.

Owns: nothing of the specs; `synthetic2d` decides the grid, this module only trains it.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(-1, 1, (3, 90, 2)).astype("float32")
    >>> y = (x[..., 0] > 0).astype("float32")
    >>> acc, loss = train(x, y, x[:, :30], y[:, :30], depth=2, activation="relu", optimizer="adam",
    ...                   output=np.zeros(3, int), dropout=np.full(3, 0.1), learning_rate=np.full(3, 1e-3),
    ...                   seed=np.arange(3), epochs=2)
    >>> acc.shape
    (3,)
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

OUTPUTS = ("sigmoid", "tanh", "relu", "elu")  # index → output activation (0: sigmoid + BCE; else MSE)
WIDTH = 20
EPS = 1e-7


def _act(name, z):
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "tanh":
        return jnp.tanh(z)
    if name == "relu":
        return jax.nn.relu(z)
    if name == "elu":
        return jax.nn.elu(z)
    raise ValueError(f"activation: got {name!r}; expected one of {OUTPUTS}")


def _output(index, z):
    return jnp.where(index == 0, jax.nn.sigmoid(z),
                     jnp.where(index == 1, jnp.tanh(z), jnp.where(index == 2, jax.nn.relu(z), jax.nn.elu(z))))


def _loss_rows(index, y, p):
    """Binary cross-entropy (Keras's clipped form) for a sigmoid output, MSE otherwise."""
    q = jnp.clip(p, EPS, 1.0 - EPS)
    bce = -(y * jnp.log(q) + (1.0 - y) * jnp.log(1.0 - q))
    return jnp.where(index == 0, bce, jnp.square(y - p))


def _glorot(key, shape):
    fan_in, fan_out = shape[-2], shape[-1]
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def _init(key, depth, n_in):
    k0, k1, k2 = jax.random.split(key, 3)
    return {"w0": _glorot(k0, (n_in, WIDTH)), "b0": jnp.zeros((WIDTH,)),
            "wh": _glorot(k1, (depth - 1, WIDTH, WIDTH)), "bh": jnp.zeros((depth - 1, WIDTH)),
            "wo": _glorot(k2, (WIDTH, 1)), "bo": jnp.zeros((1,))}


def _forward(params, x, activation, out_index, keep=None, u=None):
    h = _act(activation, x @ params["w0"] + params["b0"])
    if keep is not None:
        h = jnp.where(u < keep, h / keep, 0.0)

    def layer(h, wb):
        w, b = wb
        return _act(activation, h @ w + b), None

    h, _ = jax.lax.scan(layer, h, (params["wh"], params["bh"]))
    return _output(out_index, (h @ params["wo"] + params["bo"])[..., 0])


# --- Keras 3's optimizers, as pure functions of (state, grads, params) -----------

def _opt_init(name, params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    if name == "sgd":
        return {"t": jnp.float32(0.0)}
    if name == "rmsprop":
        return {"t": jnp.float32(0.0), "v": zeros}
    if name == "adagrad":
        return {"t": jnp.float32(0.0), "a": jax.tree_util.tree_map(lambda p: jnp.full_like(p, 0.1), params)}
    if name in ("adam", "nadam"):
        return {"t": jnp.float32(0.0), "m": zeros, "v": zeros, "u": jnp.float32(1.0)}
    raise ValueError(f"optimizer: got {name!r}; expected sgd, rmsprop, adagrad, adam or nadam")


def _opt_apply(name, state, grads, params, lr):
    tm = jax.tree_util.tree_map
    t = state["t"] + 1.0
    if name == "sgd":
        return {"t": t}, tm(lambda p, g: p - lr * g, params, grads)
    if name == "rmsprop":
        v = tm(lambda v, g: 0.9 * v + 0.1 * g * g, state["v"], grads)
        return {"t": t, "v": v}, tm(lambda p, g, v: p - lr * g / jnp.sqrt(v + EPS), params, grads, v)
    if name == "adagrad":
        a = tm(lambda a, g: a + g * g, state["a"], grads)
        return {"t": t, "a": a}, tm(lambda p, g, a: p - lr * g / jnp.sqrt(a + EPS), params, grads, a)
    b1, b2 = 0.9, 0.999
    m = tm(lambda m, g: m + (g - m) * (1 - b1), state["m"], grads)
    v = tm(lambda v, g: v + (g * g - v) * (1 - b2), state["v"], grads)
    if name == "adam":
        alpha = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        new = tm(lambda p, m, v: p - m * alpha / (jnp.sqrt(v) + EPS), params, m, v)
        return {"t": t, "m": m, "v": v, "u": state["u"]}, new
    u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
    u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    u_prod = state["u"] * u_t
    u_prod1 = u_prod * u_t1
    b2p = b2 ** t

    def step(p, g, m, v):
        m_hat = u_t1 * m / (1 - u_prod1) + (1 - u_t) * g / (1 - u_prod)
        return p - m_hat * lr / (jnp.sqrt(v / (1 - b2p)) + EPS)

    return {"t": t, "m": m, "v": v, "u": u_prod}, tm(step, params, grads, m, v)


# --- the program ------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _program(depth: int, activation: str, optimizer: str, epochs: int, batch: int, n_max: int):
    steps = -(-n_max // batch)

    def member(x, y, n, x_eval, y_eval, n_eval, out_index, rate, lr, seed):
        key = jax.random.key(seed)
        k_init, k_train = jax.random.split(key)
        params = _init(k_init, depth, x.shape[-1])
        opt = _opt_init(optimizer, params)
        keep = 1.0 - rate
        pad = steps * batch - n_max

        def loss_fn(p, xb, yb, rows, u):
            pred = _forward(p, xb, activation, out_index, keep, u)
            w = rows.astype(jnp.float32)
            return jnp.sum(_loss_rows(out_index, yb, pred) * w) / jnp.maximum(jnp.sum(w), 1.0)

        grad_fn = jax.grad(loss_fn)

        def epoch(carry, k):
            params, opt = carry
            k_perm, k_drop = jax.random.split(k)
            keys = jax.random.uniform(k_perm, (n_max,))
            order = jnp.argsort(jnp.where(jnp.arange(n_max) < n, keys, 2.0))
            order = jnp.concatenate([order, jnp.zeros((pad,), order.dtype)]).reshape(steps, batch)
            drops = jax.random.uniform(k_drop, (steps, batch, WIDTH))

            def step(carry, xs):
                params, opt = carry
                s, idx, u = xs
                rows = s * batch + jnp.arange(batch) < n
                g = grad_fn(params, x[idx], y[idx], rows, u)
                opt2, params2 = _opt_apply(optimizer, opt, g, params, lr)
                active = s * batch < n
                params = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), params2, params)
                opt = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), opt2, opt)
                return (params, opt), None

            return jax.lax.scan(step, (params, opt), (jnp.arange(steps), order, drops))[0], None

        (params, _), _ = jax.lax.scan(epoch, (params, opt), jax.random.split(k_train, epochs))
        pred = _forward(params, x_eval, activation, out_index)
        w = (jnp.arange(x_eval.shape[0]) < n_eval).astype(jnp.float32)
        nw = jnp.maximum(jnp.sum(w), 1.0)
        acc = jnp.sum(((pred > 0.5) == (y_eval > 0.5)) * w) / nw
        loss = jnp.sum(_loss_rows(out_index, y_eval, pred) * w) / nw
        return acc, loss

    return jax.jit(jax.vmap(member))


def train(x, y, x_eval, y_eval, *, depth: int, activation: str, optimizer: str, output, dropout, learning_rate,
          seed, epochs: int, batch: int = 32, n=None, n_eval=None):
    """Train M members of one (depth, activation, optimizer): (accuracy (M,), loss (M,)) on the eval rows.

    x: (M, N, features) scaled rows, y: (M, N) 0/1 labels, padded; n / n_eval: real rows per
    member (default: all). output: (M,) index into `OUTPUTS`; dropout, learning_rate: (M,);
    seed: (M,) integers.
    """
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    x_eval, y_eval = np.asarray(x_eval, np.float32), np.asarray(y_eval, np.float32)
    m = x.shape[0]
    n = np.full(m, x.shape[1], np.int32) if n is None else np.asarray(n, np.int32)
    n_eval = np.full(m, x_eval.shape[1], np.int32) if n_eval is None else np.asarray(n_eval, np.int32)
    fn = _program(int(depth), activation, optimizer, int(epochs), int(batch), int(x.shape[1]))
    acc, loss = fn(x, y, n, x_eval, y_eval, n_eval, np.asarray(output, np.int32),
                   np.asarray(dropout, np.float32), np.asarray(learning_rate, np.float32),
                   np.asarray(seed, np.uint32))
    return np.asarray(acc), np.asarray(loss)
