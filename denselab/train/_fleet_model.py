"""The fleet's view of one Keras model: variables, initializers and per-member hyperparameters.

The network is the one `build_model` makes, built once per structure with its
variables left uninitialised (`StatelessScope(initialize_variables=False)`), so no
eager Keras initialisation is paid; each variable keeps the exact initializer Keras
would have run. Two layers are swapped for versions that read per-member data while
`model.stateless_call` is being traced (see `member_context`):

- `Dropout` → `RateDropout`: the rate and the random key are arrays, so members with
  different dropout rates share one program and draw their own masks;
- `BatchNormalization` → `MaskedBatchNorm`: batch moments over a minibatch's real rows
  only (the padded rows of a last partial batch do not count, as in Keras).

Neither adds a weight, so `get_weights()` order is `build_model(...)`'s.

A program may also select per member (`select`, see `_fleet_pack`): its optimizer
(`OptimizerUnion`: every candidate's Keras update, each member keeping its own), its
output activation (`SelectDense`) and its loss (`loss_function`).

Owns: what a member's `hparams` become as arrays (dropout rate per Dropout layer, L1
and L2 per kernel, learning rate), read through `engine.apply_hparams` so that both
engines agree on their meaning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import copy
import math
import threading
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import keras
from keras import ops
import numpy as np
from keras.src.backend import StatelessScope
from keras.src.backend.common import global_state
from keras import initializers
from keras.src.initializers.random_initializers import RandomInitializer, compute_fans

from denselab.models import activations as activation_names
from denselab.models import losses, optimizers
from denselab.models.build import Head, build_model
from denselab.train.engine import apply_hparams, member_head

REGULARIZED = ("dense", "conv2d", "simplernn", "lstm", "gru")


class _Trace(threading.local):
    rates = None  # (n_dropout,) rates of this member
    uniform = None  # this step's uniform draws for every dropout mask, flat
    offsets = None  # where each Dropout layer's draws start in `uniform`
    rows = None  # (batch,) bool: which rows of the minibatch are real
    pack = None  # a packed program's per-member structure (see `pack_arrays`)


_TRACE = _Trace()


@contextlib.contextmanager
def member_context(rates=None, uniform=None, offsets=None, rows=None, pack=None):
    """Per-member arrays the swapped layers read while `stateless_call` is traced."""
    saved = (_TRACE.rates, _TRACE.uniform, _TRACE.offsets, _TRACE.rows, _TRACE.pack)
    _TRACE.rates, _TRACE.uniform, _TRACE.offsets, _TRACE.rows, _TRACE.pack = rates, uniform, offsets, rows, pack
    try:
        yield
    finally:
        _TRACE.rates, _TRACE.uniform, _TRACE.offsets, _TRACE.rows, _TRACE.pack = saved


class RateDropout(keras.layers.Layer):
    """Inverted dropout whose rate is data (`rates[index]` of the member being traced).

    Same arithmetic as `keras.backend.random.dropout`: keep with probability
    1 - rate, scale kept values by 1 / (1 - rate). The uniform draws come from the
    step's shared vector (one random draw per epoch for the whole program).
    """

    def __init__(self, index: int, **kwargs):
        super().__init__(**kwargs)
        self.index = index
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or _TRACE.rates is None:
            return inputs
        keep = 1.0 - _TRACE.rates[self.index]
        if _TRACE.pack is not None and "widths" in _TRACE.pack:  # packed: one (batch, width) block per layer
            mask = _TRACE.uniform[self.index] < keep
            return jnp.where(mask, inputs / keep, jnp.zeros_like(inputs))
        start = _TRACE.offsets[self.index]
        size = int(np.prod(inputs.shape))
        mask = _TRACE.uniform[start:start + size].reshape(inputs.shape) < keep
        return jnp.where(mask, inputs / keep, jnp.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape


class MaskedBatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization whose training moments use the real rows of the batch only."""

    def call(self, inputs, training=None, mask=None):
        rows = _TRACE.rows
        if training and rows is not None:
            shape = (rows.shape[0],) + (1,) * (len(inputs.shape) - 2)
            mask = jnp.broadcast_to(rows.reshape(shape), inputs.shape[:-1])
        return super().call(inputs, training=training, mask=mask)

    def _moments(self, inputs, mask):
        # Keras squeezes the masked moments, which turns one channel's (1,) into a scalar.
        mean, variance = super()._moments(inputs, mask)
        channels = inputs.shape[self.axis]
        return ops.reshape(mean, (channels,)), ops.reshape(variance, (channels,))


def matmul(x, w):
    """`x @ w` (a layer's inputs and kernel, Keras variables or arrays) whose kernel gradient
    XLA:CPU runs as a plain matmul.

    Autodiff's kernel gradient contracts both operands' rows (`xᵀ g` as one dot over the
    batch axis), which XLA:CPU runs on its slow generic dot (22 % of a depth-25 2-D grid
    epoch); transposing x first, behind an optimization barrier so the transpose is not
    folded back into the dot, makes it the ordinary matmul the fast kernels run. Same
    products and sums.
    """
    return _matmul(ops.convert_to_tensor(x), ops.convert_to_tensor(w))


@jax.custom_vjp
def _matmul(x, w):
    return jnp.matmul(x, w)


def _matmul_fwd(x, w):
    return jnp.matmul(x, w), (x, w)


def _matmul_bwd(res, g):
    x, w = res
    if x.ndim != 2:  # rows of sequences: the plain rule
        _, vjp = jax.vjp(jnp.matmul, x, w)
        return vjp(g)
    xt = jax.lax.optimization_barrier(jnp.swapaxes(x, 0, 1))
    return jnp.matmul(g, jnp.swapaxes(w, 0, 1)), jnp.matmul(xt, g)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


@jax.custom_vjp
def _elu(x):
    return jax.nn.elu(x)


def _elu_fwd(x):
    y = jax.nn.elu(x)
    return y, y


def _elu_bwd(y, g):
    return (g * jnp.where(y > 0, 1.0, y + 1.0),)  # exp(x) = elu(x) + 1 for x ≤ 0


_elu.defvjp(_elu_fwd, _elu_bwd)


def fast_activation(fn):
    """`fn` (a Keras activation), or the same function with a cheaper gradient: elu's
    derivative from its output, as sigmoid's and tanh's already are in JAX (autodiff
    computed exp again in the backward pass: a 2-D grid step with elu layers ran ~1.7×
    as long as one with relu layers)."""
    return _elu if fn is keras.activations.elu else fn


class FleetDense(keras.layers.Dense):
    """A Dense layer of the fleet's model: Keras's arithmetic (matmul, bias, activation) with
    `matmul`'s backward pass and `fast_activation`'s gradients."""

    def call(self, inputs, training=None):
        z = matmul(inputs, self.kernel)
        return fast_activation(self.activation)(ops.add(z, self.bias) if self.use_bias else z)


class PackedDense(keras.layers.Dense):
    """A hidden Dense layer of a packed program: built at the pack's width, used by each
    member at its own width, activation and depth (`_TRACE.pack` of the member traced).

    Units past the member's width are multiplied by 0 (their weights start at 0 and
    get no gradient), so the next layer sees exactly the narrow network's inputs;
    a layer past the member's depth passes its input through (the identity), so the
    output layer reads the member's last hidden layer. `activations` are the
    candidates; a member's index selects one (`jnp.where`, so a candidate another
    member uses costs one elementwise pass, and no gradient reaches the others).
    Same arithmetic as `Dense.call` (matmul, add bias, activation).
    """

    def __init__(self, index: int, activations: tuple, **kwargs):
        super().__init__(**kwargs)
        self.index = index
        self.candidates = tuple(fast_activation(keras.activations.get(activation_names.function(a)))
                                for a in activations)

    def call(self, inputs, training=None):
        z = ops.add(matmul(inputs, self.kernel), self.bias)
        pack = _TRACE.pack
        out = self.candidates[0](z)
        for k, fn in enumerate(self.candidates[1:], start=1):
            out = jnp.where(pack["act"] == k, fn(z), out)
        width = pack["widths"][self.index]
        out = out * (jnp.arange(out.shape[-1]) < width).astype(out.dtype)
        if self.index == 0:  # every member has a first layer (depth >= 1)
            return out
        return jnp.where(self.index < pack["depth"], out, inputs)


class SelectDense(keras.layers.Dense):
    """The output Dense layer of a program that selects each member's output activation:
    `activations` are the candidates, `_TRACE.pack["output_activation"]` the member's index
    (`jnp.where`, as `PackedDense`). Same arithmetic as `Dense.call`."""

    def __init__(self, activations: tuple, **kwargs):
        super().__init__(**kwargs)
        self.candidates = tuple(fast_activation(keras.activations.get(activation_names.function(a)))
                                for a in activations)

    def call(self, inputs, training=None):
        z = ops.add(matmul(inputs, self.kernel), self.bias)
        index = _TRACE.pack["output_activation"]
        out = self.candidates[0](z)
        for k, fn in enumerate(self.candidates[1:], start=1):
            out = jnp.where(index == k, fn(z), out)
        return out


@dataclass
class FleetModel:
    """One built network and optimizer, and where each variable sits.

    weight_slots: for each entry of `get_weights()`, ("t", i) (trainable) or ("n", i).
    kernels: indices into the trainable variables of the L1/L2-penalised kernels.
    optimizers: the candidate optimizers (one unless the program selects them);
    opt_slots: one variable per slot of the program's optimizer state (the first
    candidate's that needed it), opt_maps[k]: the slot of each variable of candidate k;
    lr_index: the learning rate's slot. select: {name: candidates} the program selects
    per member (see `select_arrays`).
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    weight_slots: list
    kernels: list
    lr_index: int
    dropout_sizes: list  # values per row each Dropout layer masks, in call order
    packed: tuple | None = None  # a packed program's candidate activations (None: one network)
    dropout_blocks: list | None = None  # the hidden Dense layer each Dropout layer follows
    optimizers: tuple = ()
    opt_slots: list | None = None
    opt_maps: list | None = None
    select: dict | None = None
    flat: list | None = None  # per candidate optimizer: its twin on all weights as one vector (`_flat_twins`)

    @property
    def trainable(self):
        return self.model.trainable_variables

    @property
    def non_trainable(self):
        return self.model.non_trainable_variables


def build(model_spec, train_spec, head: Head, input_shape, packed: tuple | None = None,
          select: dict | None = None) -> FleetModel:
    """Build the network and the optimizer once, variables uninitialised (milliseconds).

    packed: candidate activation names: `model_spec` is then a pack (a Dense chain at
    the pack's depth and width) whose hidden Dense layers become `PackedDense`.
    select: {name: candidates} for `optimizer` (configs: one optimizer each, see
    `OptimizerUnion`), `output_activation` (the output layer becomes `SelectDense`)
    and `loss` (read by `loss_function`).

    The variables are taken off Keras's list of variables to initialise later (which
    the exit of any outer `StatelessScope` would otherwise do, inside our traces):
    they are never given values; the programs map them to arrays.
    """
    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    try:
        with StatelessScope(initialize_variables=False):
            base = build_model(model_spec, head, input_shape, name="fleet")
            model = _swap_layers(base, packed, (select or {}).get("output_activation"))
        configs = (select or {}).get("optimizer") or (train_spec.optimizer,)
        candidates = tuple(_built_optimizer(dataclasses.replace(train_spec, optimizer=c), model) for c in configs)
        flat = _flat_twins(train_spec, configs, candidates, model) if len(candidates) > 1 else None
    finally:
        del pending[before:]
    optimizer = candidates[0]
    t_index = {id(v): i for i, v in enumerate(model.trainable_variables)}
    n_index = {id(v): i for i, v in enumerate(model.non_trainable_variables)}
    slots = [("t", t_index[id(w)]) if id(w) in t_index else ("n", n_index[id(w)]) for w in model.weights]
    kernels = []
    for layer in model.layers:
        if layer.name == "output":
            continue
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            kernels.append(t_index[id(layer.kernel)])
        elif isinstance(layer, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)):
            kernels.append(t_index[id(layer.cell.kernel)])
    opt_slots, opt_maps = _slot_map(candidates)
    lr_index = [i for i, v in enumerate(opt_slots) if v.name == "learning_rate"]
    if len(lr_index) != 1:
        raise RuntimeError(f"optimizer {type(optimizer).__name__}: no single learning_rate variable")
    sizes = [int(np.prod(layer.output.shape[1:])) for layer in model.layers if isinstance(layer, RateDropout)]
    blocks, n_dense = [], 0
    for layer in model.layers:
        if isinstance(layer, RateDropout):
            blocks.append(n_dense - 1)
        elif isinstance(layer, keras.layers.Dense):
            n_dense += 1
    return FleetModel(model=model, optimizer=optimizer, weight_slots=slots, kernels=kernels,
                      lr_index=lr_index[0], dropout_sizes=sizes, packed=packed, dropout_blocks=blocks,
                      optimizers=candidates, opt_slots=opt_slots, opt_maps=opt_maps, flat=flat,
                      select={k: tuple(v) for k, v in (select or {}).items()})


def _built_optimizer(train_spec, model):
    optimizer = optimizers.make(train_spec)
    try:
        with StatelessScope(initialize_variables=False):
            optimizer.build(model.trainable_variables)
    except ValueError:  # Nadam creates a variable from a value, refused in a stateless scope
        optimizer = optimizers.make(train_spec)
        optimizer.build(model.trainable_variables)
    return optimizer


def _flat_twins(train_spec, configs, candidates, model) -> list | None:
    """Each candidate optimizer built again on one variable holding every weight, with how its
    variables map to the candidate's own: (twin, [(twin variable, own variable index) or
    (twin variable, [own index per weight])]). Every optimizer denselab names updates each
    element from that element alone, so one update of the flat vector is the per-variable
    update, in a handful of operations instead of a few per weight (the compile of a program
    selecting 5 optimizers for 52 weights had been 4× one optimizer's). None where a candidate
    clips each weight's norm (`clipnorm`), which is not elementwise."""
    if any(getattr(c, "clipnorm", None) for c in candidates):
        return None
    size = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    paths = [v.path.replace("/", "_") for v in model.trainable_variables]
    twins = []
    for config, own in zip(configs, candidates):
        vector = keras.Variable(initializer="zeros", shape=(size,), dtype="float32", name="flat")
        twin = _built_optimizer(dataclasses.replace(train_spec, optimizer=config), _Weights([vector]))
        names = {v.name: i for i, v in enumerate(own.variables)}
        scalars = [i for i, v in enumerate(own.variables) if not v.shape]
        layout, n_scalar = [], 0
        for v in twin.variables:
            if not v.shape:
                layout.append(scalars[n_scalar])
                n_scalar += 1
            else:
                kind = v.name[len("flat_"):]
                layout.append([names[f"{p}_{kind}"] for p in paths])
        twins.append((twin, layout))
    return twins


class _Weights:
    """What `optimizer.build` reads of a model: its trainable variables."""

    def __init__(self, variables):
        self.trainable_variables = variables


def flat_state(fm: FleetModel, k: int, opt):
    """One member's optimizer slots → candidate k's twin's variables (`_flat_twins`)."""
    own = [opt[s] for s in fm.opt_maps[k]]
    return [own[spec] if isinstance(spec, int) else jnp.concatenate([own[j].reshape(-1) for j in spec])
            for spec in fm.flat[k][1]]


def shared_state(fm: FleetModel, k: int, flat, opt):
    """Candidate k's twin's variables written back into one member's optimizer slots."""
    new = list(opt)
    slots = fm.opt_maps[k]
    for spec, value in zip(fm.flat[k][1], flat):
        if isinstance(spec, int):
            new[slots[spec]] = value
            continue
        offset = 0
        for j in spec:
            shape = tuple(opt[slots[j]].shape)
            size = int(np.prod(shape)) if shape else 1
            new[slots[j]] = value[offset:offset + size].reshape(shape)
            offset += size
    return new


def _slot_map(candidates: tuple) -> tuple:
    """Shared optimizer-state slots for candidate optimizers: each candidate's iteration and
    learning rate share one slot each, and each other variable takes the first slot of its
    shape and dtype that candidate has not used yet (Adam's momentums and RMSprop's
    velocities share slots, say), so the state is the largest candidate's, not their sum."""
    slots, maps = [], []
    for optimizer in candidates:
        used, mapping = set(), []
        for v in optimizer.variables:
            kind = v.name if v.name in ("iteration", "learning_rate") else None
            match = next((i for i, (k, w) in enumerate(slots) if i not in used and k == kind
                          and tuple(w.shape) == tuple(v.shape) and w.dtype == v.dtype), None)
            if match is None:
                slots.append((kind, v))
                match = len(slots) - 1
            used.add(match)
            mapping.append(match)
        maps.append(mapping)
    return [v for _, v in slots], maps


def apply_optimizer(fm: FleetModel, opt, grads, trainable, pack):
    """One member's optimizer step: (trainable, optimizer slots). Selecting programs run every
    candidate's Keras `stateless_apply` on the member's slots and keep its own's (programs
    that group members by optimizer use the flat twins instead, see `_fleet_program`)."""
    if len(fm.optimizers) == 1:
        return fm.optimizer.stateless_apply(opt, grads, trainable)
    index = pack["optimizer"]
    new_tr, new_opt = None, list(opt)
    for k, (optimizer, slots) in enumerate(zip(fm.optimizers, fm.opt_maps)):
        tr_k, vars_k = optimizer.stateless_apply([opt[s] for s in slots], grads, trainable)
        chosen = index == k
        new_tr = list(tr_k) if new_tr is None else [jnp.where(chosen, a, b) for a, b in zip(tr_k, new_tr)]
        for s, v in zip(slots, vars_k):
            new_opt[s] = jnp.where(chosen, v, new_opt[s])
    return new_tr, new_opt


def loss_function(fm: FleetModel, head: Head):
    """`rows(y, pred, pack)`: the per-row loss of the head, or of each member's selected loss."""
    candidates = fm.select.get("loss") if fm.select else None
    if not candidates:
        fn = losses.function(head.loss)
        return lambda y, pred, pack=None: fn(y, pred)
    fns = [losses.function(name) for name in candidates]

    def rows(y, pred, pack=None):
        out = fns[0](y, pred)
        for k, fn in enumerate(fns[1:], start=1):
            out = jnp.where(pack["loss"] == k, fn(y, pred), out)
        return out

    return rows


def select_arrays(model_spec, train_spec, head: Head, selected: list, names: tuple) -> tuple:
    """A program's own (model spec, train spec, head) and what it selects per member.

    selected: each member's `engine.SELECTED` overrides; names: those that differ among
    them. Each member's own optimizer, output activation and loss are resolved
    (`apply_hparams`, `member_head`); a name whose members resolve to more than one
    value is selected: ({name: candidates}, {name: (M,) int32 index}). The program's
    own specs are the first member's (what the selected names override).
    """
    cache: dict = {}
    for s in selected:
        key = repr(sorted(s.items()))
        if key not in cache:
            m, t = apply_hparams(model_spec, train_spec, s)
            cache[key] = (m, t, member_head(head, m, t, s))
    resolved = [cache[repr(sorted(s.items()))] for s in selected] or [(model_spec, train_spec, head)]
    own = [(m, t) for m, t, _ in resolved]
    heads = [h for _, _, h in resolved]
    values = {"optimizer": [optimizers.check(t.optimizer) for _, t in own],
              "output_activation": [h.output_activation for h in heads], "loss": [h.loss for h in heads]}
    select, index = {}, {}
    for name in names:
        keys = sorted({repr(v) for v in values[name]})
        if len(keys) < 2:
            continue
        first = {repr(v): v for v in reversed(values[name])}
        select[name] = tuple(first[k] for k in keys)
        index[name] = np.asarray([keys.index(repr(v)) for v in values[name]], np.int32)
    model, train = own[0]
    return model, train, heads[0], select, index


def _swap_layers(base: keras.Model, packed: tuple | None = None, outputs: tuple | None = None) -> keras.Model:
    """The same chain of layers with Dropout and BatchNormalization swapped (see module
    doc), for a pack the hidden Dense layers made `PackedDense`, and for a program that
    selects output activations the output layer made `SelectDense`."""
    inputs = keras.Input(shape=base.input_shape[1:])
    x = inputs
    n_dropout = n_dense = 0
    for layer in base.layers[1:]:
        if isinstance(layer, keras.layers.Dropout):
            layer = RateDropout(n_dropout, name=layer.name)
            n_dropout += 1
        elif type(layer) is keras.layers.BatchNormalization:
            layer = MaskedBatchNorm.from_config(layer.get_config())
        elif packed is not None and type(layer) is keras.layers.Dense and layer.name != "output":
            layer = PackedDense(n_dense, packed, **layer.get_config())
            n_dense += 1
        elif outputs and type(layer) is keras.layers.Dense and layer.name == "output":
            layer = SelectDense(outputs, **layer.get_config())
        elif type(layer) is keras.layers.Dense and not layer.lora_enabled:
            layer = FleetDense.from_config(layer.get_config())
        x = layer(x)
    return keras.Model(inputs, x, name=base.name)


def member_arrays(model_spec, train_spec, members) -> dict:
    """Per-member hyperparameters as arrays: rates (M, D), l1/l2 (M, K), learning_rate (M,).

    Read from the specs `apply_hparams` makes, in the order `build_model` places the
    Dropout layers and the penalised kernels.
    """
    rates, l1, l2, lr = [], [], [], []
    specs: dict = {}  # a call's members share few overrides
    for member in members:
        key = repr(sorted(member.hparams.items()))
        if key not in specs:
            specs[key] = apply_hparams(model_spec, train_spec, member.hparams)
        spec_m, train_m = specs[key]
        r, a, b = [], [], []
        for base, layer in zip(model_spec.hidden, spec_m.hidden):  # base: which layers exist
            if base.type == "dropout":
                r.append(layer.rate)
            elif base.dropout > 0:
                r.append(layer.dropout)
            if base.type in REGULARIZED:
                a.append(layer.l1)
                b.append(layer.l2)
        rates.append(r)
        l1.append(a)
        l2.append(b)
        lr.append(train_m.learning_rate)
    m = len(members)
    return {
        "rates": np.asarray(rates, np.float32).reshape(m, -1),
        "l1": np.asarray(l1, np.float32).reshape(m, -1),
        "l2": np.asarray(l2, np.float32).reshape(m, -1),
        "learning_rate": np.asarray(lr, np.float32),
    }


INIT_TAG = 0xFFFFFFFF  # the stream of the initial weights; epoch e uses stream e


def _mix(x):
    """triple32 (C. Wellons' hash-prospector): a uint32 bijection with near-ideal avalanche."""
    for shift, mult in ((17, 0xED5AD4BB), (11, 0xAC4C1B51), (15, 0x31848BAB)):
        x = (x ^ (x >> shift)) * np.uint32(mult)
    return x ^ (x >> 14)


def uniform(seed, tag, shape):
    """Uniform [0, 1) float32 draws of stream `tag` of a member `seed`, counter-based.

    Element i (row-major index) is `mix(mix(i ^ k1) ^ k2)` with keys hashed from
    (seed, tag): no state, so draws do not depend on how far the fleet is padded or
    how it is chunked, and a (seed, tag) pair always gives the same numbers. A
    threefry call site costs ~0.4 s of XLA compilation on CPU; this hash costs
    nothing to compile and is plenty for shuffles, dropout masks and initial weights.
    """
    n = int(np.prod(shape))
    return uniform_at(seed, tag, jax.lax.iota(jnp.uint32, n).reshape(shape))


def uniform_at(seed, tag, index):
    """`uniform(seed, tag, ...)`'s draws at the (row-major) positions `index` (uint32):
    how a packed program reads each member's numbers at its narrow network's layout."""
    seed = jnp.asarray(seed).astype(jnp.uint32)
    tag = jnp.asarray(np.uint32(tag) if isinstance(tag, int) else tag).astype(jnp.uint32)
    k1 = _mix(_mix(seed ^ np.uint32(0x9E3779B9)) ^ tag)
    k2 = _mix(k1 ^ np.uint32(0x85EBCA6B))
    bits = _mix(_mix(jnp.asarray(index).astype(jnp.uint32) ^ k1) ^ k2)
    return (bits >> 8).astype(jnp.float32) * np.float32(2.0 ** -24)


def member_key(seed, tag):
    """A threefry key for Keras initializers this module cannot sample itself."""
    raw = jnp.stack([jnp.asarray(seed).astype(jnp.uint32), jnp.asarray(np.uint32(tag), jnp.uint32)])
    return jax.random.wrap_key_data(raw, impl="threefry2x32")


_SQRT2 = np.float32(np.sqrt(2.0))


def _normal(u):
    """Standard normal from uniform [0, 1) draws, as `jax.random.normal` maps them."""
    v = jnp.maximum(2.0 * u - 1.0, np.nextafter(np.float32(-1.0), np.float32(0.0)))
    return _SQRT2 * jax.lax.erf_inv(v)


def _truncated_normal(u):
    """Normal truncated to [-2, 2], as `jax.random.truncated_normal` (Keras's bounds)."""
    a, b = [math.erf(x / math.sqrt(2.0)) for x in (-2.0, 2.0)]  # Python floats: safe inside a trace
    out = _SQRT2 * jax.lax.erf_inv(a + (b - a) * u)
    return jnp.clip(out, np.nextafter(np.float32(-2.0), np.float32(3.0)),
                    np.nextafter(np.float32(2.0), np.float32(-3.0)))


def _sampler(init, shape):
    """(uniforms needed, f(u) -> values) for Keras's random initializers, else None.

    The same distributions as the initializers' own `__call__`, drawn from a slice
    of one uniform vector per member.
    """
    shape = tuple(int(d) for d in shape)
    n = int(np.prod(shape)) if shape else 1
    affine = affine_sampler(init, shape)
    if affine is not None:
        loc, scale, g = affine
        if loc is None:
            return n, lambda u: scale * g(u).reshape(shape)
        return n, lambda u: (loc + scale * g(u)).reshape(shape)
    if type(init) is initializers.Orthogonal and len(shape) >= 2:
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        flat = (max(rows, cols), min(rows, cols))

        def orthogonal(u):
            q, r = jnp.linalg.qr(_normal(u).reshape(flat))
            q = q * jnp.sign(jnp.diagonal(r))
            return init.gain * (q.T if rows < cols else q).reshape(shape)

        return int(np.prod(flat)), orthogonal
    return None


def _identity(u):
    return u


def affine_sampler(init, shape):
    """(loc, scale, g) with values `loc + scale * g(u)` (loc None: `scale * g(u)`) for the
    initializers whose draws are an affine map of a fixed transform of the uniforms,
    else None. Each is exactly Keras's distribution; VarianceScaling's scale depends
    on the fans of `shape`, which is how a packed member gets its own."""
    if isinstance(init, initializers.VarianceScaling):
        fan_in, fan_out = compute_fans(shape, input_axes=init.input_axes, output_axes=init.output_axes)
        scale = init.scale / max(1.0, {"fan_in": fan_in, "fan_out": fan_out}.get(init.mode, (fan_in + fan_out) / 2.0))
        if init.distribution == "truncated_normal":
            return None, math.sqrt(scale) / 0.87962566103423978, _truncated_normal
        if init.distribution == "untruncated_normal":
            return None, math.sqrt(scale), _normal
        limit = math.sqrt(3.0 * scale)
        return -limit, 2.0 * limit, _identity
    if type(init) is initializers.RandomUniform:
        return init.minval, init.maxval - init.minval, _identity
    if type(init) is initializers.RandomNormal:
        return init.mean, init.stddev, _normal
    if type(init) is initializers.TruncatedNormal:
        return init.mean, init.stddev, _truncated_normal
    return None


def _constant(init, variable) -> np.ndarray:
    """A deterministic initializer's values (numpy for the common ones: no eager JAX op)."""
    shape, dtype = tuple(variable.shape), variable.dtype
    if type(init) is initializers.Zeros:
        return np.zeros(shape, dtype)
    if type(init) is initializers.Ones:
        return np.ones(shape, dtype)
    if type(init) is initializers.Constant:
        return np.full(shape, init.value, dtype)
    return init(shape, dtype=dtype)  # e.g. the LSTM forget-gate bias: traced with the program


def init_function(fm: FleetModel):
    """`init(seeds, learning_rates, pack) -> (trainable, non_trainable, optimizer_vars)`, vmapped.

    Every variable gets the distribution of its Keras initializer, drawn from one
    uniform vector per member (`uniform(seed, INIT_TAG, ...)`): same member seed,
    same numbers. Initializers this module does not know are called as Keras's own,
    seeded with a key of their own. In a pack (`pack` from `pack_arrays`, else {})
    each kernel is drawn at its member's own shape and place in that vector, so a
    member starts where its narrow network would; the padding starts at 0.
    """
    variables = list(fm.trainable) + list(fm.non_trainable)
    packed = {i: (k, affine_sampler(init, shape)) for i, k, init, shape in pack_kernels(fm)} if fm.packed else {}
    plans, total = [], 0
    for i, v in enumerate(variables):
        init = v._initializer
        if i in packed:
            plans.append(("packed",) + packed[i] + (None,))
            continue
        plan = _sampler(init, v.shape) if isinstance(init, RandomInitializer) else None
        if plan is not None:
            plans.append(("u", total, plan[0], plan[1]))
            total += plan[0]
        elif isinstance(init, RandomInitializer):
            plans.append(("keras", init, None, None))
        elif init is None:  # created from a value
            plans.append(("value", np.asarray(v._value), None, None))
        else:  # zeros, ones, constants, the LSTM forget-gate bias
            plans.append(("value", init, None, None))
    n_t = len(fm.trainable)

    def initial(v):
        return jnp.asarray(v._value if v._initializer is None else _constant(v._initializer, v), v.dtype)

    def one(seed, learning_rate, pack):
        u = uniform(seed, INIT_TAG, (max(total, 1),))
        values = []
        for i, (kind, a, b, f) in enumerate(plans):
            if kind == "packed":
                values.append(_packed_kernel(seed, variables[i], a, b, pack))
            elif kind == "u":
                values.append(f(u[a:a + b]).astype(variables[i].dtype))
            elif kind == "keras":
                init = copy.copy(a)
                init.seed = member_key(seed, i)
                values.append(jnp.asarray(init(variables[i].shape, dtype=variables[i].dtype)))
            elif kind == "value" and callable(a):
                values.append(jnp.asarray(_constant(a, variables[i]), variables[i].dtype))
            else:
                values.append(jnp.asarray(a))
        if len(fm.optimizers) == 1:
            opt = [initial(v) for v in fm.optimizer.variables]
        else:  # each slot starts at the member's own optimizer's initial value
            opt = [jnp.zeros(v.shape, v.dtype) for v in fm.opt_slots]
            for k, (optimizer, slots) in enumerate(zip(fm.optimizers, fm.opt_maps)):
                for v, slot in zip(optimizer.variables, slots):
                    opt[slot] = jnp.where(pack["optimizer"] == k, initial(v), opt[slot])
        opt[fm.lr_index] = learning_rate.astype(opt[fm.lr_index].dtype)
        return values[:n_t], values[n_t:], opt

    return jax.vmap(one)


# --- packs: members of different widths, depths and activations in one program ------

def pack_kernels(fm: FleetModel) -> list:
    """(variable index, kernel slot, initializer, shape) of a pack's kernels: slot k < depth
    is hidden layer k's, the last slot the output layer's."""
    index = {id(v): i for i, v in enumerate(fm.trainable)}
    dense = [layer for layer in fm.model.layers if isinstance(layer, keras.layers.Dense)]
    return [(index[id(layer.kernel)], k, layer.kernel._initializer, tuple(layer.kernel.shape))
            for k, layer in enumerate(dense)]


def pack_arrays(fm: FleetModel, widths: list, activation: list) -> dict:
    """A pack's per-member structure as arrays (numpy), what its layers and init read.

    widths: each member's hidden widths (its depth is their number); activation: each
    member's index into `fm.packed`. Gives `widths` (M, D) (0 past a member's depth),
    `depth`, `act`, and per kernel slot the member's own kernel shape (`kernel_in`,
    `kernel_out`), where its draws start in its uniform vector (`init_offset`: the
    narrow network's layout) and its initializer's `init_loc`/`init_scale` at that shape.
    """
    kernels = pack_kernels(fm)
    d, n_in, n_out = len(kernels) - 1, kernels[0][3][0], kernels[-1][3][1]
    m = len(widths)
    out = {"widths": np.zeros((m, d), np.int32), "depth": np.zeros(m, np.int32),
           "act": np.asarray(activation, np.int32),
           "kernel_in": np.zeros((m, d + 1), np.int32), "kernel_out": np.zeros((m, d + 1), np.int32),
           "init_offset": np.zeros((m, d + 1), np.uint32),
           "init_loc": np.zeros((m, d + 1), np.float32), "init_scale": np.zeros((m, d + 1), np.float32)}
    for j, ws in enumerate(widths):
        ws = [int(w) for w in ws]
        out["widths"][j, :len(ws)] = ws
        out["depth"][j] = len(ws)
        shapes = list(zip([n_in] + ws[:-1], ws)) + [(ws[-1], n_out)]
        slots = list(range(len(ws))) + [d]
        offset = 0
        for slot, shape in zip(slots, shapes):
            loc, scale, _ = affine_sampler(kernels[slot][2], shape)
            out["kernel_in"][j, slot], out["kernel_out"][j, slot] = shape
            out["init_offset"][j, slot] = offset
            out["init_loc"][j, slot] = 0.0 if loc is None else loc
            out["init_scale"][j, slot] = scale
            offset += shape[0] * shape[1]
    return out


def _packed_kernel(seed, variable, slot, affine, pack):
    """One member's kernel at the pack's shape: its narrow kernel's exact draws, zeros around."""
    loc, _, g = affine
    rows, cols = (int(d) for d in variable.shape)
    n_in, n_out = pack["kernel_in"][slot], pack["kernel_out"][slot]
    i = jax.lax.broadcasted_iota(jnp.uint32, (rows, cols), 0)
    j = jax.lax.broadcasted_iota(jnp.uint32, (rows, cols), 1)
    index = pack["init_offset"][slot] + i * n_out.astype(jnp.uint32) + j
    values = pack["init_scale"][slot] * g(uniform_at(seed, INIT_TAG, index))
    if loc is not None:
        values = pack["init_loc"][slot] + values
    valid = (i < n_in.astype(jnp.uint32)) & (j < n_out.astype(jnp.uint32))
    return jnp.where(valid, values, 0.0).astype(variable.dtype)


def kernel_mask(pack, slot, shape):
    """1 on a member's own part of a pack kernel, 0 on the padding (for the L1/L2 penalty)."""
    i = jax.lax.broadcasted_iota(jnp.int32, shape, 0)
    j = jax.lax.broadcasted_iota(jnp.int32, shape, 1)
    return ((i < pack["kernel_in"][slot]) & (j < pack["kernel_out"][slot])).astype(jnp.float32)


def narrow_weights(weights: list, widths) -> list:
    """A pack member's weights (pack order: kernel, bias per Dense layer) cut to its own
    network's `get_weights()`: its layers, its widths, then the output layer."""
    out, previous = [], None
    for k, w in enumerate(int(w) for w in widths):
        kernel, bias = weights[2 * k], weights[2 * k + 1]
        out += [kernel[:previous, :w] if previous else kernel[:, :w], bias[:w]]
        previous = w
    return out + [weights[-2][:previous], weights[-1]]
