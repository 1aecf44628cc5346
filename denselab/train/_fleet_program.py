"""The fleet's compiled training program: scan over epochs of vmap(members) of scan over minibatches.

One call of the chunk program trains every member for `chunk` epochs, starting at
epoch `epoch0` (an argument, so the same executable runs every chunk; the fleet
calls it from Python between chunks to report progress). Epochs past `epochs`, or
when every member has stopped, are skipped with `lax.cond`.

Per member and epoch: the rows are shuffled with real rows first (argsort of uniform
keys, padded rows pushed to the back), so batch b holds rows b·B … b·B+B-1 of the
permutation exactly as Keras's would; a member takes ceil(n/B) steps and the steps
past its own rows are masked (no update, optimizer state unchanged); the last
partial batch averages its loss over its real rows. Training loss and metric are
Keras's: the row-weighted mean of the batch losses (penalty included) and the
metric over every row seen, before each update. Validation loss (penalty included)
and metric are computed on the member's validation rows after the epoch.

Early stopping follows `keras.callbacks.EarlyStopping(monitor="val_loss",
restore_best_weights=True)`: the first epoch is always an improvement, strict `<`
after; a member stops after the epoch where `wait >= patience` (epoch > 0), and
keeps the weights of its best epoch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from denselab.models import losses
from denselab.train._fleet_model import FleetModel, init_function, kernel_mask, member_context, uniform, uniform_at

HISTORY = 5  # loss, metric, val_loss, val_metric, ran (1.0 where the member trained that epoch)


def _where(flag, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


class Program:
    """The traced functions of one structure; `chunk` and `predict` are jit-ready.

    Args:
        fm: the built network and optimizer.
        head: output head (loss, metric, binary or not).
        batch_size, epochs, chunk: minibatch rows, total epochs, epochs per chunk call.
        patience: early-stopping patience, or None.
        flags: dict of booleans `dropout`, `l1`, `l2` (whether any member needs them),
            `shuffle` (False only in tests: rows in order, as `fit(shuffle=False)`).
    """

    def __init__(self, fm: FleetModel, head, batch_size: int, epochs: int, chunk: int,
                 patience, flags: dict):
        self.fm, self.head = fm, head
        self.batch, self.epochs, self.chunk = batch_size, epochs, chunk
        self.patience = patience
        self.flags = flags
        self.loss_rows = losses.function(head.loss)
        sizes = [batch_size * n for n in fm.dropout_sizes] if flags["dropout"] else []
        self.offsets = [int(o) for o in np.cumsum([0] + sizes[:-1])] if sizes else []
        self.dropout_draws = int(sum(sizes))  # uniform draws per step for the dropout masks

    # --- pieces -------------------------------------------------------------

    def penalty(self, trainable, l1, l2, pack=None):
        total = jnp.float32(0.0)
        for k, i in enumerate(self.fm.kernels):
            w = trainable[i]
            if pack is not None:  # a pack member's own weights only (L1's gradient at a padded 0 is not 0)
                w = w * kernel_mask(pack, k, w.shape)
            if self.flags["l1"]:
                total = total + l1[k] * jnp.sum(jnp.abs(w))
            if self.flags["l2"]:
                total = total + l2[k] * jnp.sum(jnp.square(w))
        return total

    def metric_rows(self, y, pred):
        """Per-row accuracy (0/1) or mean squared error, as Keras's metrics compute them."""
        if self.head.task == "classification":
            if self.head.binary:
                return ((pred[..., 0] > 0.5) == (y[..., 0] > 0.5)).astype(jnp.float32)
            return (jnp.argmax(pred, -1) == jnp.argmax(y, -1)).astype(jnp.float32)
        return jnp.mean(jnp.square(pred - y), axis=-1)

    def forward(self, trainable, non_trainable, x, training, rates=None, uniform=None, rows=None, pack=None):
        rates = rates if self.flags["dropout"] else None
        with member_context(rates, uniform, self.offsets, rows, pack):
            return self.fm.model.stateless_call(trainable, non_trainable, x, training=training)

    def batch_loss(self, trainable, non_trainable, xb, yb, rows, rates, uniform, l1, l2, pack):
        pred, non_trainable = self.forward(trainable, non_trainable, xb, True, rates, uniform, rows, pack)
        w = rows.astype(jnp.float32)
        n = jnp.maximum(jnp.sum(w), 1.0)
        loss = jnp.sum(self.loss_rows(yb, pred) * w) / n + self.penalty(trainable, l1, l2, pack)
        return loss, (non_trainable, jnp.sum(self.metric_rows(yb, pred) * w))

    # --- one member, one epoch ---------------------------------------------

    def member_epoch(self, state, data, epoch):
        b = self.batch
        x, y, n = data["x_train"], data["y_train"], data["n_train"]
        n_max = x.shape[0]
        steps = -(-n_max // b)
        # One draw per epoch, one block per step: the step's B shuffle keys, then its
        # dropout uniforms. Element (s, w) depends on its index only, so a member's
        # draws do not depend on how far the fleet is padded.
        pack = state.get("pack")
        if pack is None:
            draws = uniform(data["seed"], epoch, (steps, b + self.dropout_draws))
            keys, dropout_u = draws[:, :b].reshape(-1)[:n_max], draws[:, b:]
        else:
            keys, dropout_u = self.packed_draws(data["seed"], epoch, steps, pack["widths"])
            keys = keys[:n_max]
        position = jnp.arange(n_max)
        order = jnp.argsort(jnp.where(position < n, keys, 2.0)) if self.flags["shuffle"] else position
        order = jnp.concatenate([order, jnp.zeros((steps * b - n_max,), order.dtype)])
        stopped = state["stopped"]
        grad_fn = jax.value_and_grad(self.batch_loss, has_aux=True)
        optimizer = self.fm.optimizer

        def step(carry, xs):
            s, uniform = xs
            tr, ntr, opt, loss_sum, metric_sum = carry
            idx = jax.lax.dynamic_slice(order, (s * b,), (b,))
            rows = s * b + jnp.arange(b) < n
            active = (s * b < n) & ~stopped
            (loss, (ntr2, correct)), grads = grad_fn(
                tr, ntr, x[idx], y[idx], rows, data["rates"], uniform,
                data["l1"], data["l2"], pack)
            tr2, opt2 = optimizer.stateless_apply(opt, grads, tr)
            tr, ntr, opt = _where(active, (tr2, ntr2, opt2), (tr, ntr, opt))
            n_rows = jnp.sum(rows.astype(jnp.float32))
            loss_sum = loss_sum + jnp.where(active, loss * n_rows, 0.0)
            metric_sum = metric_sum + jnp.where(active, correct, 0.0)
            return (tr, ntr, opt, loss_sum, metric_sum), None

        zero = jnp.float32(0.0)
        carry = (state["trainable"], state["non_trainable"], state["optimizer"], zero, zero)
        (tr, ntr, opt, loss_sum, metric_sum), _ = jax.lax.scan(step, carry, (jnp.arange(steps), dropout_u))
        n_f = jnp.maximum(n.astype(jnp.float32), 1.0)
        train_loss, train_metric = loss_sum / n_f, metric_sum / n_f

        pred, _ = self.forward(tr, ntr, data["x_val"], False, pack=pack)
        vw = (jnp.arange(data["x_val"].shape[0]) < data["n_val"]).astype(jnp.float32)
        nv = jnp.sum(vw)
        nan = jnp.float32(np.nan)
        val_loss = jnp.where(nv > 0, jnp.sum(self.loss_rows(data["y_val"], pred) * vw) / jnp.maximum(nv, 1.0)
                             + self.penalty(tr, data["l1"], data["l2"], pack), nan)
        val_metric = jnp.where(nv > 0, jnp.sum(self.metric_rows(data["y_val"], pred) * vw)
                               / jnp.maximum(nv, 1.0), nan)

        new = dict(state, trainable=tr, non_trainable=ntr, optimizer=opt,
                   epochs_run=state["epochs_run"] + (~stopped).astype(jnp.int32))
        if self.patience is not None:
            watch = data["early_stop"] & ~stopped
            improved = (epoch == 0) | (val_loss < state["best_val"])
            wait = jnp.where(improved, 0, state["wait"] + 1)
            keep = watch & improved
            new["best_val"] = jnp.where(keep, val_loss, state["best_val"])
            new["best_epoch"] = jnp.where(keep, epoch, state["best_epoch"])
            new["best_trainable"] = _where(keep, tr, state["best_trainable"])
            new["best_non_trainable"] = _where(keep, ntr, state["best_non_trainable"])
            new["wait"] = jnp.where(watch, wait, state["wait"])
            new["stopped"] = stopped | (watch & ~improved & (wait >= self.patience) & (epoch > 0))
        ran = (~stopped).astype(jnp.float32)
        record = jnp.stack([train_loss, train_metric, val_loss, val_metric, ran])
        return new, jnp.where(stopped, jnp.full_like(record, np.nan).at[4].set(0.0), record)

    def packed_draws(self, seed, epoch, steps, widths):
        """A pack member's shuffle keys and per-layer dropout uniforms (steps, D, B, width),
        read at the positions its narrow network's program draws them (see `member_epoch`):
        a step's block is B keys then each Dropout layer's B × w_l values."""
        b = self.batch
        width = self.fm.model.layers[1].units
        w = widths.astype(jnp.uint32)
        stride = b + (b * jnp.sum(w) if self.flags["dropout"] else jnp.uint32(0))
        step = jax.lax.broadcasted_iota(jnp.uint32, (steps, b), 0)
        keys = uniform_at(seed, epoch, step * stride + jax.lax.broadcasted_iota(jnp.uint32, (steps, b), 1))
        if not self.flags["dropout"]:
            return keys.reshape(-1), jnp.zeros((steps, 0), jnp.float32)
        start = b * (jnp.cumsum(w) - w)  # where each layer's block starts after the keys
        shape = (steps, len(self.fm.dropout_sizes), b, width)
        s, l, r, u = (jax.lax.broadcasted_iota(jnp.uint32, shape, axis) for axis in range(4))
        index = s * stride + b + start[l] + r * w[l] + u
        return keys.reshape(-1), uniform_at(seed, epoch, index)

    # --- the programs -------------------------------------------------------

    def chunk_fn(self, state, data, epoch0):
        """Train `self.chunk` epochs from `epoch0`: (state, history (chunk, M, 5))."""
        members = jax.vmap(self.member_epoch, in_axes=(0, 0, None))
        m = state["stopped"].shape[0]

        def body(st, i):
            epoch = epoch0 + i
            go = (epoch < self.epochs) & jnp.any(~st["stopped"])
            skipped = jnp.full((m, HISTORY), np.nan, jnp.float32).at[:, 4].set(0.0)
            return jax.lax.cond(go, lambda s: members(s, data, epoch), lambda s: (s, skipped), st)

        return jax.lax.scan(body, state, jnp.arange(self.chunk, dtype=jnp.int32))

    def init_fn(self, seeds, learning_rates, pack):
        """The loop's carry: each member's initial variables plus its bookkeeping (and, in a
        pack, its structure: `pack_arrays`; {} otherwise)."""
        trainable, non_trainable, opt = init_function(self.fm)(seeds, learning_rates, pack)
        m = seeds.shape[0]
        state = {"trainable": trainable, "non_trainable": non_trainable, "optimizer": opt,
                 "stopped": jnp.zeros((m,), bool), "epochs_run": jnp.zeros((m,), jnp.int32)}
        if self.fm.packed:
            state["pack"] = pack
        if self.patience is not None:
            state.update(best_val=jnp.full((m,), np.inf, jnp.float32), best_epoch=jnp.zeros((m,), jnp.int32),
                         wait=jnp.zeros((m,), jnp.int32), best_trainable=trainable,
                         best_non_trainable=non_trainable)
        return state

    def finish_fn(self, state, early_stop, x, y):
        """Each member's kept weights (its best epoch's under early stopping), outputs on
        its eval rows `x` (M, N, ...) in inference mode, and their per-row loss."""
        trainable, non_trainable = state["trainable"], state["non_trainable"]
        if self.patience is not None:
            def pick(best, last):
                return [jnp.where(early_stop.reshape((-1,) + (1,) * (b.ndim - 1)), b, v)
                        for b, v in zip(best, last)]
            trainable = pick(state["best_trainable"], trainable)
            non_trainable = pick(state["best_non_trainable"], non_trainable)

        def one(tr, ntr, xm, ym, pack):
            pred = self.forward(tr, ntr, xm, False, pack=pack)[0]
            return pred, self.loss_rows(ym, pred)

        pred, loss = jax.vmap(one)(trainable, non_trainable, x, y, state.get("pack"))
        return trainable, non_trainable, pred, loss
