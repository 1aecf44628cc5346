"""The fleet's compiled training program: scan over epochs of a scan over minibatches of vmap(members).

One call of the chunk program trains every member for `chunk` epochs, starting at
epoch `epoch0` (an argument, so the same executable runs every chunk; the fleet
calls it from Python between chunks to report progress). Epochs past `epochs`, or
when every member has stopped, are skipped with `lax.cond`. A step computes every
member's gradient (vmapped), then every member's optimizer update: where the program
selects optimizers (`flags["optimizer_groups"]`), each contiguous group of one
optimizer runs only its own update, on its members' weights as flat rows (`Program.epoch`).

Random draws belong to *streams*, a (seed, rows, layout) that members share (every arm
of a split has the split's member seed): each epoch a stream's shuffle and dropout
uniforms are drawn once and its members read them (`stream_draws`); the numbers are
those a member would draw alone. Per member and epoch: the rows are shuffled with real
rows first (argsort of uniform keys, padded rows pushed to the back), so batch b holds rows b·B … b·B+B-1 of the
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

from denselab.train._fleet_model import (FleetModel, apply_optimizer, flat_state, init_function, kernel_mask,
                                        loss_function, member_context, shared_state, uniform, uniform_at)

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
        self.loss_rows = loss_function(fm, head)  # (y, pred, pack): the member's loss per row
        sizes = [batch_size * n for n in fm.dropout_sizes] if flags["dropout"] else []
        self.offsets = [int(o) for o in np.cumsum([0] + sizes[:-1])] if sizes else []
        self.dropout_draws = int(sum(sizes))  # uniform draws per step for the dropout masks

    # --- pieces -------------------------------------------------------------

    def penalty(self, trainable, l1, l2, pack=None):
        total = jnp.float32(0.0)
        for k, i in enumerate(self.fm.kernels):
            w = trainable[i]
            if self.fm.packed:  # a pack member's own weights only (L1's gradient at a padded 0 is not 0)
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
        loss = jnp.sum(self.loss_rows(yb, pred, pack) * w) / n + self.penalty(trainable, l1, l2, pack)
        return loss, (non_trainable, jnp.sum(self.metric_rows(yb, pred) * w))

    # --- one member, one epoch ---------------------------------------------

    def stream_draws(self, streams, epoch, n_max):
        """Each stream's row order (U, steps·B) and dropout uniforms (U, steps, …) for `epoch`.

        A stream is a (seed, rows, layout) that members share (the arms of one split do):
        one draw per epoch, one block per step: the step's B shuffle keys, then its dropout
        uniforms; element (s, w) depends on its index only, so the draws do not depend on
        how far the fleet is padded. Real rows are shuffled first (argsort of the keys).
        """
        b = self.batch
        steps = -(-n_max // b)

        def one(seed, n, widths):
            if not self.fm.packed:
                draws = uniform(seed, epoch, (steps, b + self.dropout_draws))
                keys, dropout_u = draws[:, :b].reshape(-1)[:n_max], draws[:, b:]
            else:
                keys, dropout_u = self.packed_draws(seed, epoch, steps, widths)
                keys = keys[:n_max]
            position = jnp.arange(n_max)
            order = jnp.argsort(jnp.where(position < n, keys, 2.0)) if self.flags["shuffle"] else position
            return jnp.concatenate([order, jnp.zeros((steps * b - n_max,), order.dtype)]), dropout_u

        return jax.vmap(one)(streams["seed"], streams["n"], streams["widths"])

    def epoch(self, state, data, epoch, orders, dropouts):
        """Every member's epoch (state and data member-first): a scan over minibatch steps whose
        step computes each member's gradient (`member_grad`, vmapped) and then each member's
        optimizer update, then each member's validation and early stopping (`member_end`,
        vmapped). Where the program groups members by optimizer (`flags["optimizer_groups"]`),
        the step carries every member's weights as one flat row (M, P) and each group's
        optimizer state as its optimizer's flat twin's (`_fleet_model._flat_twins`): a group's
        update is a few operations on its rows, not a few per weight and group (which had
        made such a chunk compile 4× as long as one optimizer's, and writing each group's
        update back into whole per-weight arrays had copied them all)."""
        b = self.batch
        steps = -(-data["x_train"].shape[1] // b)
        pack = state.get("pack")
        per = {k: data[k] for k in ("x_train", "y_train", "n_train", "stream", "rates", "l1", "l2")}
        per.update(order=orders[data["stream"]], stopped=state["stopped"], pack=pack)
        grads_of = jax.vmap(self.member_grad, in_axes=(0, 0, 0, None, None))
        groups = self.flags.get("optimizer_groups") if self.fm.flat is not None else None
        zero = jnp.zeros(state["stopped"].shape, jnp.float32)
        if not groups:
            def step(carry, s):
                tr, ntr, opt, loss_sum, metric_sum = carry
                grads, ntr, active, loss, correct = grads_of(tr, ntr, per, s, dropouts)
                tr, opt = jax.vmap(self.update)(opt, grads, tr, pack, active)
                return (tr, ntr, opt, loss_sum + loss, metric_sum + correct), None

            carry = (state["trainable"], state["non_trainable"], state["optimizer"], zero, zero)
            (tr, ntr, opt, loss_sum, metric_sum), _ = jax.lax.scan(step, carry, jnp.arange(steps))
            return jax.vmap(self.member_end, in_axes=(0, 0, None, 0, 0, 0, 0, 0))(
                state, data, epoch, tr, ntr, opt, loss_sum, metric_sum)

        shapes = [tuple(v.shape[1:]) for v in state["trainable"]]
        sizes = [int(np.prod(sh)) for sh in shapes]
        offsets = np.cumsum([0] + sizes)
        m = zero.shape[0]

        def rows(weights):  # per-weight arrays (M, …) → (M, P)
            return jnp.concatenate([w.reshape(m, -1) for w in weights], axis=1)

        def weights(flat):  # (M, P) → per-weight arrays
            return [flat[:, a:a + n].reshape((m,) + sh) for a, n, sh in zip(offsets, sizes, shapes)]

        def own(opt, k, a, b_):
            return jax.vmap(lambda o: flat_state(self.fm, k, o))([o[a:b_] for o in opt])

        def step(carry, s):
            flat, ntr, opts, loss_sum, metric_sum = carry
            grads, ntr, active, loss, correct = grads_of(weights(flat), ntr, per, s, dropouts)
            grads = rows(grads)
            parts, new_opts = [], []
            for (k, a, b_), opt in zip(groups, opts):
                p, o = jax.vmap(lambda *args, _k=k: self.update_flat(_k, *args))(
                    opt, grads[a:b_], flat[a:b_], active[a:b_])
                parts.append(p)
                new_opts.append(o)
            return (jnp.concatenate(parts), ntr, new_opts, loss_sum + loss, metric_sum + correct), None

        opts = [own(state["optimizer"], k, a, b_) for k, a, b_ in groups]
        carry = (rows(state["trainable"]), state["non_trainable"], opts, zero, zero)
        (flat, ntr, opts, loss_sum, metric_sum), _ = jax.lax.scan(step, carry, jnp.arange(steps))
        back = [jax.vmap(lambda f, o, _k=k: shared_state(self.fm, _k, f, o))(f, [o[a:b_] for o in state["optimizer"]])
                for (k, a, b_), f in zip(groups, opts)]
        opt = [jnp.concatenate(parts) for parts in zip(*back)]
        return jax.vmap(self.member_end, in_axes=(0, 0, None, 0, 0, 0, 0, 0))(
            state, data, epoch, weights(flat), ntr, opt, loss_sum, metric_sum)

    def member_grad(self, tr, ntr, per, s, dropouts):
        """One member's minibatch step s: (gradient, non-trainable variables, whether it stepped,
        its loss × real rows and correct rows). Steps past its own rows, or after it stopped,
        change nothing (`active` false)."""
        b = self.batch
        n = per["n_train"]
        idx = jax.lax.dynamic_slice(per["order"], (s * b,), (b,))
        rows = s * b + jnp.arange(b) < n
        active = (s * b < n) & ~per["stopped"]
        (loss, (ntr2, correct)), grads = jax.value_and_grad(self.batch_loss, has_aux=True)(
            tr, ntr, per["x_train"][idx], per["y_train"][idx], rows, per["rates"], dropouts[per["stream"], s],
            per["l1"], per["l2"], per["pack"])
        n_rows = jnp.sum(rows.astype(jnp.float32))
        return (grads, _where(active, ntr2, ntr), active, jnp.where(active, loss * n_rows, 0.0),
                jnp.where(active, correct, 0.0))

    def update(self, opt, grads, tr, pack, active):
        """One member's optimizer step (a member that did not step keeps still): its optimizer's,
        or its own among all candidates' where the program selects optimizers but cannot group
        members by optimizer (`apply_optimizer`)."""
        tr2, opt2 = apply_optimizer(self.fm, opt, grads, tr, pack)
        return _where(active, (tr2, opt2), (tr, opt))

    def update_flat(self, k, opt, grads, flat, active):
        """One member's step with candidate k's flat twin (weights and gradient as one row)."""
        (new,), opt2 = self.fm.flat[k][0].stateless_apply(opt, [grads], [flat])
        return _where(active, (new, opt2), (flat, opt))

    def member_end(self, state, data, epoch, tr, ntr, opt, loss_sum, metric_sum):
        """One member after the epoch's steps: its curves (Keras's train loss and metric, the
        validation loss and metric) and early stopping; (state, history record)."""
        n = data["n_train"]
        stopped = state["stopped"]
        pack = state.get("pack")
        n_f = jnp.maximum(n.astype(jnp.float32), 1.0)
        train_loss, train_metric = loss_sum / n_f, metric_sum / n_f

        pred, _ = self.forward(tr, ntr, data["x_val"], False, pack=pack)
        vw = (jnp.arange(data["x_val"].shape[0]) < data["n_val"]).astype(jnp.float32)
        nv = jnp.sum(vw)
        nan = jnp.float32(np.nan)
        val_loss = jnp.where(nv > 0, jnp.sum(self.loss_rows(data["y_val"], pred, pack) * vw) / jnp.maximum(nv, 1.0)
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
        read at the positions its narrow network's program draws them (see `stream_draws`):
        a step's block is B keys then each Dropout layer's B × w values (w: the width of the
        Dense layer it follows, 0 past the member's depth)."""
        b = self.batch
        width = self.fm.model.layers[1].units
        w = widths.astype(jnp.uint32)[np.asarray(self.fm.dropout_blocks, np.int32)]
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
        m = state["stopped"].shape[0]
        streams = data["streams"]  # (U,) seeds, rows, widths: what members share (see `stream_draws`)
        data = {k: v for k, v in data.items() if k != "streams"}

        def epoch_of(s, epoch):
            return self.epoch(s, data, epoch, *self.stream_draws(streams, epoch, data["x_train"].shape[1]))

        def body(st, i):
            epoch = epoch0 + i
            go = (epoch < self.epochs) & jnp.any(~st["stopped"])
            skipped = jnp.full((m, HISTORY), np.nan, jnp.float32).at[:, 4].set(0.0)
            return jax.lax.cond(go, lambda s: epoch_of(s, epoch), lambda s: (s, skipped), st)

        return jax.lax.scan(body, state, jnp.arange(self.chunk, dtype=jnp.int32))

    def init_fn(self, seeds, learning_rates, pack):
        """The loop's carry: each member's initial variables plus its bookkeeping (and, in a
        pack, its structure: `pack_arrays`; {} otherwise)."""
        trainable, non_trainable, opt = init_function(self.fm)(seeds, learning_rates, pack)
        m = seeds.shape[0]
        state = {"trainable": trainable, "non_trainable": non_trainable, "optimizer": opt,
                 "stopped": jnp.zeros((m,), bool), "epochs_run": jnp.zeros((m,), jnp.int32)}
        if pack:  # a pack's structure, and what the program selects per member
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
            return pred, self.loss_rows(ym, pred, pack)

        pred, loss = jax.vmap(one)(trainable, non_trainable, x, y, state.get("pack"))
        return trainable, non_trainable, pred, loss
