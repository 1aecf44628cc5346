"""A fused training program for the 2-D study's grid: plain JAX, one program per (depth, activation).

The study's grid nets are all one family: Dense(20, act) → Dropout(rate) → (depth − 1) ×
Dense(20, act) → Dense(1, output activation), glorot-uniform kernels, zero biases,
batch 32, each optimizer at its Keras defaults. At 20 units a training step is a chain of
tiny matmuls and elementwise passes; on CPU the passes over memory and the per-operation
costs weigh as much as the arithmetic. Hence:

- one program trains every member of a (depth, activation): folds × optimizers × output
  activations × dropout rates (300 for the full grid), so each operation works on all of
  them at once and only 20 programs are compiled;
- output activation (sigmoid → binary cross-entropy, tanh/relu/elu → MSE on 0/1 labels,
  as the study decides), dropout rate and learning rate are per-member data; members are
  grouped by optimizer and each group's update is Keras 3's formula, `vmap`ped over it;
- arrays are member-first (the hidden layers' stacked kernels layer-first, so a layer's
  slice is contiguous); the hidden layers run in a `fori_loop` and the backward pass is
  written out (dense + activation, each derivative from the layer's output): autodiff
  through the layer loop kept three residual stacks per step and copied them around;
- random numbers (initial weights, per-epoch shuffles, dropout draws) are drawn once per
  stream, a (dataset, seed) pair, and shared by the stream's members — the study gives all
  members of a fold one seed, as the fleet does, so this is what a per-member draw with
  that seed would give, without drawing it 100 times.

Optimizer updates are Keras 3's formulas (SGD, RMSprop ρ=0.9, Adagrad with accumulator
0.1, Adam, Nadam with its momentum schedule; ε = 1e-7). Random numbers are JAX's threefry
(not the fleet's stream), so a member's numbers are not the fleet's bit for bit: equal
accuracy is a statistical claim, checked in `tests/test_study_synthetic2d.py` against the
fleet on a sample.

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
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "nadam")
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


def _act_grad(name, y):
    """d act / dz written with the activation's output y = act(z), so the backward pass needs no z."""
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "tanh":
        return 1.0 - y * y
    if name == "relu":
        return (y > 0).astype(y.dtype)
    return jnp.where(y > 0, 1.0, y + 1.0)  # elu: exp(z) = y + 1 for z ≤ 0


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


# --- the net, member-first (M, rows, 20), hidden layers layer-first (depth − 1, M, …) -------

def _dense(h, w, b):
    return jnp.einsum("mbi,mij->mbj", h, w) + b[:, None, :]


def _hidden(params, h, activation, seen=None):
    """The hidden layers. Given `seen` (depth, M, 20, rows), also writes there every layer's input
    and the top output, transposed: the backward pass's kernel gradient is then a plain batched
    matmul, which XLA's CPU backend runs about twice as fast as one contracting both operands' rows."""
    depth1 = params["wh"].shape[0]

    def layer(l, carry):
        h, seen = carry
        if seen is not None:
            seen = jax.lax.dynamic_update_index_in_dim(seen, jnp.swapaxes(h, 1, 2), l, 0)
        return _act(activation, _dense(h, params["wh"][l], params["bh"][l])), seen

    h, seen = jax.lax.fori_loop(0, depth1, layer, (h, seen))
    if seen is not None:
        seen = jax.lax.dynamic_update_index_in_dim(seen, jnp.swapaxes(h, 1, 2), depth1, 0)
    return h, seen


def _predict(params, x, activation, out_index):
    h, _ = _hidden(params, _act(activation, _dense(x, params["w0"], params["b0"])), activation)
    return _output(out_index[:, None], _dense(h, params["wo"], params["bo"])[..., 0])


def _scratch(params, rows):
    """Buffers `_grads` overwrites in full: carried from step to step, so not zeroed each step."""
    depth1, m, width, _ = params["wh"].shape
    return jnp.zeros((depth1 + 1, m, width, rows)), jnp.zeros_like(params["wh"]), jnp.zeros_like(params["bh"])


def _grads(params, x, y, weights, keep, u, activation, out_index, scratch):
    """Gradient of each member's mean loss over its weighted rows, through dropout (u < keep kept)."""
    seen, gw, gb = scratch
    a0 = _act(activation, _dense(x, params["w0"], params["b0"]))
    kept = u < keep[:, None, None]
    h0 = jnp.where(kept, a0 / keep[:, None, None], 0.0)
    top, seen = _hidden(params, h0, activation, seen)

    def loss(o):  # summed over members: each member's gradient is its own loss's
        per_row = _loss_rows(out_index[:, None], y, _output(out_index[:, None], o[..., 0]))
        return jnp.sum(jnp.sum(per_row * weights, axis=1) / jnp.maximum(jnp.sum(weights, axis=1), 1.0))

    g_o = jax.grad(loss)(_dense(top, params["wo"], params["bo"]))   # (M, rows, 1)
    grads = {"wo": jnp.einsum("mbi,mbj->mij", top, g_o), "bo": g_o.sum(1)}
    depth1 = params["wh"].shape[0]

    def layer_back(k, carry):
        g, gw, gb = carry   # g: d loss / d (layer l's output)
        l = depth1 - 1 - k
        gz = g * _act_grad(activation, jnp.swapaxes(seen[l + 1], 1, 2))
        gw = jax.lax.dynamic_update_index_in_dim(gw, jnp.einsum("mib,mbj->mij", seen[l], gz), l, 0)
        gb = jax.lax.dynamic_update_index_in_dim(gb, gz.sum(1), l, 0)
        return jnp.einsum("mbj,mij->mbi", gz, params["wh"][l]), gw, gb

    g = jnp.einsum("mbj,mij->mbi", g_o, params["wo"])
    g, grads["wh"], grads["bh"] = jax.lax.fori_loop(0, depth1, layer_back, (g, gw, gb))
    gz0 = jnp.where(kept, g / keep[:, None, None], 0.0) * _act_grad(activation, a0)
    grads["w0"] = jnp.einsum("mbi,mbj->mij", x, gz0)
    grads["b0"] = gz0.sum(1)
    return grads, (seen, grads["wh"], grads["bh"])


# --- Keras 3's optimizers, as pure functions of one member's (state, grads, params) ----

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
    raise ValueError(f"optimizer: got {name!r}; expected one of {OPTIMIZERS}")


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


def _member_update(name, state, grads, params, lr, active):
    """One member's optimizer step; a member whose rows ran out this epoch (active false) keeps still."""
    state2, params2 = _opt_apply(name, state, grads, params, lr)
    keep = lambda new, old: jnp.where(active, new, old)  # noqa: E731
    return jax.tree_util.tree_map(keep, state2, state), jax.tree_util.tree_map(keep, params2, params)


# --- the program ------------------------------------------------------------------

def _member_axes(tree):
    """Per leaf, the axis that runs over members: 1 for the layer-first hidden kernels and biases
    (and their optimizer slots), else 0."""
    def axis(path, _):
        return 1 if any(getattr(k, "key", None) in ("wh", "bh") for k in path) else 0
    return jax.tree_util.tree_map_with_path(axis, tree)


def _slice(tree, start, stop):
    return jax.tree_util.tree_map(lambda a, ax: jax.lax.slice_in_dim(a, start, stop, axis=ax), tree,
                                  _member_axes(tree))


def _concat(trees):
    return jax.tree_util.tree_map(lambda ax, *parts: jnp.concatenate(parts, axis=ax), _member_axes(trees[0]),
                                  *trees)


def _vmap_members(fn, *trees):
    """`fn` (written for one member) over all, every tree split on and rebuilt along its member axes."""
    in_axes = tuple(_member_axes(t) for t in trees)
    one = [jax.tree_util.tree_map(lambda a, ax: jax.ShapeDtypeStruct(a.shape[:ax] + a.shape[ax + 1:], a.dtype), t, at)
           for t, at in zip(trees, in_axes)]
    return jax.vmap(fn, in_axes=in_axes, out_axes=_member_axes(jax.eval_shape(fn, *one)))(*trees)


@functools.lru_cache(maxsize=None)
def _program(depth: int, activation: str, groups: tuple, epochs: int, batch: int, n_max: int):
    """groups: ((optimizer, start, stop), …), contiguous member ranges."""
    steps = -(-n_max // batch)
    pad = steps * batch - n_max

    def stream_draws(key, n):
        """One stream's epoch: its row order (real rows first, shuffled) and dropout uniforms."""
        k_perm, k_drop = jax.random.split(key)
        keys = jax.random.uniform(k_perm, (n_max,))
        order = jnp.argsort(jnp.where(jnp.arange(n_max) < n, keys, 2.0))
        order = jnp.concatenate([order, jnp.zeros((pad,), order.dtype)]).reshape(steps, batch)
        return order, jax.random.uniform(k_drop, (steps, batch, WIDTH))

    def run(x, y, n, x_eval, y_eval, n_eval, stream_seed, stream_data, member_stream, out_index, rate, lr):
        keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s)))(stream_seed)   # (U, 2)
        init = jax.vmap(lambda k: _init(k, depth, x.shape[-1]))(keys[:, 0])
        params = jax.tree_util.tree_map(lambda a, ax: jnp.moveaxis(a[member_stream], 0, ax), init, _member_axes(init))
        member_data = stream_data[member_stream]
        n_member = n[member_data]
        keep = 1.0 - rate
        opts = tuple(_vmap_members(functools.partial(_opt_init, name), _slice(params, a, b)) for name, a, b in groups)
        x_streams, y_streams = x[stream_data], y[stream_data]   # (U, N, F), (U, N)
        epoch_keys = jax.vmap(lambda k: jax.random.split(k, epochs))(keys[:, 1]).swapaxes(0, 1)

        def epoch(carry, ekeys):
            order, drops = jax.vmap(stream_draws)(ekeys, n[stream_data])   # (U, steps, batch[, 20])

            def step(carry, s):
                params, opts, scratch = carry
                rows_u = (jnp.arange(order.shape[0])[:, None], order[:, s])
                xb, yb = x_streams[rows_u][member_stream], y_streams[rows_u][member_stream]
                weights = (s * batch + jnp.arange(batch) < n_member[:, None]).astype(jnp.float32)
                grads, scratch = _grads(params, xb, yb, weights, keep, drops[:, s][member_stream], activation,
                                        out_index, scratch)
                active = s * batch < n_member
                parts = [_vmap_members(functools.partial(_member_update, name),
                                       opt, _slice(grads, a, b), _slice(params, a, b), lr[a:b], active[a:b])
                         for (name, a, b), opt in zip(groups, opts)]
                return (_concat([p for _, p in parts]), tuple(o for o, _ in parts), scratch), None

            return jax.lax.scan(step, carry, jnp.arange(steps))[0], None

        (params, _, _), _ = jax.lax.scan(epoch, (params, opts, _scratch(params, batch)), epoch_keys)
        xe, ye = x_eval[member_data], y_eval[member_data]
        pred = _predict(params, xe, activation, out_index)
        w = (jnp.arange(xe.shape[1]) < n_eval[member_data][:, None]).astype(jnp.float32)
        nw = jnp.maximum(jnp.sum(w, axis=1), 1.0)
        acc = jnp.sum(((pred > 0.5) == (ye > 0.5)) * w, axis=1) / nw
        loss = jnp.sum(_loss_rows(out_index[:, None], ye, pred) * w, axis=1) / nw
        return acc, loss

    return jax.jit(run)


def train(x, y, x_eval, y_eval, *, depth: int, activation: str, optimizer, output, dropout, learning_rate,
          seed, epochs: int, batch: int = 32, n=None, n_eval=None, data=None):
    """Train M members of one (depth, activation): (accuracy (M,), loss (M,)) on their eval rows.

    x: (D, N, features) scaled training rows of D datasets, y: (D, N) 0/1 labels, padded;
    x_eval, y_eval likewise; n / n_eval: (D,) real rows (default: all). data: (M,) each
    member's dataset (default: member i trains on dataset i). optimizer: one name or (M,)
    names; output: (M,) index into `OUTPUTS`; dropout, learning_rate: (M,); seed: (M,)
    integers — members with the same dataset and seed share initial weights, shuffles and
    dropout draws.
    """
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    x_eval, y_eval = np.asarray(x_eval, np.float32), np.asarray(y_eval, np.float32)
    d = x.shape[0]
    data = np.arange(d) if data is None else np.asarray(data, np.int64)
    m = len(data)
    n = np.full(d, x.shape[1], np.int32) if n is None else np.asarray(n, np.int32)
    n_eval = np.full(d, x_eval.shape[1], np.int32) if n_eval is None else np.asarray(n_eval, np.int32)
    names = np.asarray([optimizer] * m if isinstance(optimizer, str) else list(optimizer))
    unknown = sorted(set(names) - set(OPTIMIZERS))
    if unknown:
        raise ValueError(f"optimizer: got {unknown[0]!r}; expected one of {OPTIMIZERS}")
    by_opt = np.argsort([OPTIMIZERS.index(o) for o in names], kind="stable")   # groups must be contiguous
    counts = [int(np.sum(names == o)) for o in OPTIMIZERS]
    starts = np.cumsum([0] + counts)
    groups = tuple((o, int(a), int(b)) for o, a, b in zip(OPTIMIZERS, starts[:-1], starts[1:]) if b > a)
    seed = np.asarray(seed, np.int64)[by_opt] & 0xFFFFFFFF
    streams, member_stream = np.unique(np.stack([data[by_opt], seed], 1), axis=0, return_inverse=True)
    fn = _program(int(depth), activation, groups, int(epochs), int(batch), int(x.shape[1]))
    acc, loss = fn(x, y, n, x_eval, y_eval, n_eval, streams[:, 1].astype(np.uint32),
                   streams[:, 0].astype(np.int32), member_stream.reshape(-1).astype(np.int32),
                   np.asarray(output, np.int32)[by_opt], np.asarray(dropout, np.float32)[by_opt],
                   np.asarray(learning_rate, np.float32)[by_opt])
    out_acc, out_loss = np.empty(m, np.float32), np.empty(m, np.float32)
    out_acc[by_opt], out_loss[by_opt] = np.asarray(acc), np.asarray(loss)
    return out_acc, out_loss
