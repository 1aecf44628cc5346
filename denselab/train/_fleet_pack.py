"""Which members of one fleet call train in which program: one per network, or packs.

Members may carry `depth`, `units` and `activation` (`engine.STRUCTURAL`; made member
data by `engine.split_hparams` for Dense chains), so the networks of one call can
differ. Each distinct network can have a program of its own, or several can share a
*pack*: the chain at their largest depth and width, in which each member uses exactly
its own part (`_fleet_model.PackedDense`; as TabPack trains many MLPs at once). A pack
costs the padding's FLOPs and saves compiles.

Members may also carry `optimizer`, `output_activation` and `loss`
(`engine.SELECTED`): they change a program's code, not its shapes, so one program can
hold several and *select* each member's: the candidates' optimizer states share slots
(`_fleet_model._slot_map`) and the members of one optimizer are contiguous, so each
group runs its own Keras update on flat rows (`_fleet_program.Program.epoch`); the output layer
computes each candidate activation and each member keeps its own, and so for the loss
(`_fleet_model.SelectDense`, `loss_function`). Selecting costs a little
per-operation overhead and saves compiles.

`plan` chooses by estimated seconds (compile + run; the constants below were measured
on the 2-core machine of `benchmarks/search_speed.py` and `benchmarks/grid_speed.py`):
it starts from one program per network and merges the two groups whose merge saves
the most, while a merge saves anything.

Example:
    >>> from denselab.spec import LayerSpec, ModelSpec
    >>> spec = ModelSpec(hidden=(LayerSpec(units=32),))
    >>> units = plan(spec, [{"units": 8}, {"units": 16}, {"units": 16}], epochs=20, rows=100, n_in=4, n_out=3)
    >>> [(len(u.index), u.packed) for u in units]
    [(3, ('relu',))]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from denselab.models import activations as activation_names
from denselab.spec import ModelSpec, TrainSpec
from denselab.train.engine import SELECTED, STRUCTURAL, apply_hparams, chain_pattern, dense_chain

# Activations a pack may select per member: elementwise, finite gradients everywhere
# (an unselected candidate still gets a zero cotangent, and 0 · inf would be NaN, so
# `exponential` stays out); `prelu` is a layer with weights of its own.
PACKABLE = ("linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "gelu", "silu",
            "leaky_relu", "relu6", "hard_sigmoid", "mish", "arctan", "binary_step")
# Output activations and losses a program may select per member (finite values and
# gradients for any prediction, so an unselected candidate cannot poison the gradient).
OUTPUTS = PACKABLE + ("softmax",)
PIECEWISE_LINEAR = ("linear", "relu", "leaky_relu", "relu6", "hard_sigmoid", "binary_step")
LOSSES = ("binary_crossentropy", "categorical_crossentropy", "mse", "mae", "huber")

# Seconds, measured with `fleet.last_timings()` on the 2-core machine of
# `benchmarks/search_speed.py` (750 rows × 10 features, batch 32; load average ~8, so
# every figure is ~4× an idle machine's: only their ratios decide). A program's cold
# trace + compile grows with its depth and its candidate activations; a run costs each
# minibatch step STEP_FIXED_S and STEP_LAYER_S per layer (per-operation overheads), each
# member-step STEP_S, and the FLOPs (3 matmuls per Dense per row: forward and two
# backward; each candidate activation ACTIVATION_FLOPS per unit and row) at RATE.
# Selected optimizers: members of one optimizer are updated as a group, each further
# group costing OPTIMIZER_GROUP_S per weight variable and step and COMPILE_OPTIMIZER_S
# of compile; each further output activation or loss COMPILE_SELECT_S. The selection
# and activation figures were measured on the 2-D grid's nets (300 members, 20 units,
# depth 5–25, `benchmarks/grid_speed.py`) at load ~1 and scaled ×4 like the rest: a pack
# of its 4 hidden activations ran 1.8–3× slower than one activation (each candidate is
# an elementwise pass as costly as the 20 × 20 matmul), the optimizer and output groups
# 5–10 % slower than one optimizer, and 5 programs compiled ~4× as long as one.
COMPILE_S = 4.0
COMPILE_LAYER_S = 0.5
COMPILE_ACTIVATION_S = 0.2
COMPILE_OPTIMIZER_S = 1.5
COMPILE_SELECT_S = 0.1
RATE = 8.0e9
STEP_FIXED_S = 5.0e-4
STEP_LAYER_S = 2.5e-4
STEP_S = 4.0e-5
OPTIMIZER_GROUP_S = 5.0e-5
ACTIVATION_FLOPS = 60.0


@dataclass
class Unit:
    """One program of a fleet call: its network and the call's members it trains.

    packed: None (one network: `spec` is the members' own), or the pack's candidate
    activations; then `spec` is the pack's chain, `widths[j]` member j's hidden widths
    and `act[j]` its index into `packed`. `hparams`: each member's numeric overrides
    (what `member_arrays` reads). `selected[j]`: member j's `engine.SELECTED`
    overrides; `select`: those whose values differ among the members (the program
    selects them per member), the others are the program's own.
    """

    spec: ModelSpec
    index: list
    hparams: list
    packed: tuple | None = None
    widths: list | None = None
    act: list | None = None
    selected: list = field(default_factory=list)
    select: tuple = ()
    networks: int = 1  # distinct networks (with their optimizer, output activation and loss)
    estimate: tuple = (0.0, 0.0)  # (compile, run) seconds `_costs` expects


def network_of(model_spec: ModelSpec, hparams: dict) -> tuple[ModelSpec, dict]:
    """(the member's own network, its other overrides): `apply_hparams` of its structure,
    written out as `hidden`, so equal networks compare equal however they were written."""
    structural = {k: hparams[k] for k in STRUCTURAL if k in hparams}
    rest = {k: v for k, v in hparams.items() if k not in STRUCTURAL}
    if not structural:
        return model_spec, rest
    spec, _ = apply_hparams(model_spec, TrainSpec(), structural)
    hidden = tuple(dataclasses.replace(layer, activation=_activation(layer.activation))
                   if layer.type == "dense" else layer for layer in spec.hidden)
    return dataclasses.replace(spec, depth=None, units=None, layer=None, hidden=hidden), rest


def own_specs(model_spec: ModelSpec, train_spec: TrainSpec, hparams: dict) -> tuple:
    """(network, train spec, other overrides) of a member trained alone: its structural and
    selected overrides applied, the numeric ones (what a program takes as data) left."""
    spec, rest = network_of(model_spec, hparams)
    selected = {k: rest.pop(k) for k in SELECTED if k in rest}
    spec, train = apply_hparams(spec, train_spec, selected)
    return spec, train, rest


def plan(model_spec: ModelSpec, hparams: list, *, epochs: int, rows: int, n_in: int, n_out: int,
         batch_size: int = 32) -> list[Unit]:
    """The programs for members with these `hparams` (one Unit per program, in first-member order)."""
    nets: dict = {}
    own: dict = {}  # networks by structural overrides: a call's members share few
    for j, hp in enumerate(hparams):
        structural = repr([(k, hp[k]) for k in STRUCTURAL if k in hp])
        if structural not in own:
            own[structural] = network_of(model_spec, hp)[0]
        spec, rest = own[structural], {k: v for k, v in hp.items() if k not in STRUCTURAL}
        selected = {k: rest.pop(k) for k in SELECTED if k in rest}
        entry = nets.setdefault(repr((spec, sorted(selected.items(), key=lambda kv: kv[0]))),
                                {"spec": spec, "selected": selected, "index": [], "hparams": []})
        entry["index"].append(j)
        entry["hparams"].append(rest)
    shape = {"epochs": epochs, "rows": rows, "n_in": n_in, "n_out": n_out, "batch": batch_size}
    families: dict = {}
    for net in nets.values():
        families.setdefault(_family(net) if len(nets) > 1 else None, []).append(net)
    groups = []
    for family, members in families.items():
        if family is None or len(members) == 1:
            groups += [[n] for n in members]
            continue
        # networks that differ only in what a program selects first (one bucket each), then packs
        buckets: dict = {}
        for n in members:
            buckets.setdefault(repr(n["spec"]), []).append([n])
        groups += _merge([g for bucket in buckets.values() for g in _merge(bucket, shape)], shape)
    units = [dataclasses.replace(_unit(group), networks=len(group), estimate=_costs(_group_summary(group, {}), shape))
             for group in groups]
    return sorted(units, key=lambda u: u.index[0])


def transcendental(unit: Unit) -> bool:
    """Whether a program's hidden layers compute exponentials or the like (not piecewise
    linear): the fleet then compiles its chunk with XLA's newer fusion emitters, whose
    vectorised `exp`/`expm1`/`tanh` ran a 2-D grid step with elu or sigmoid layers 1.5–2×
    as fast as the classic emitters' (which compile small relu programs ~2× as fast)."""
    acts = unit.packed or tuple(_activation(d.activation) for d, _ in (dense_chain(unit.spec) or ()))
    return any(a not in PIECEWISE_LINEAR for a in acts)


def _activation(name):
    return activation_names.get(name) if name else "relu"


def _selectable(name: str, value) -> bool:
    """Whether a program can select `value` of a SELECTED hyperparameter per member."""
    if value is None:
        return True
    if name == "optimizer":
        return isinstance(value, (str, dict))
    if callable(value):
        return False
    if name == "loss":
        from denselab.models import losses

        return losses.get(value) in LOSSES
    return activation_names.get(value) in OUTPUTS


def _family(net: dict):
    """What the networks of one program must share, or None when a network shares its program
    with no other: the hidden layers (all but widths, depth and activation for a chain a pack
    can hold), and each SELECTED value that cannot be selected."""
    spec = net["spec"]
    fixed = tuple((k, repr(v)) for k, v in sorted(net["selected"].items()) if not _selectable(k, v))
    hidden = _hidden_family(spec)
    return repr((hidden if hidden is not None else ("own", spec), fixed))


def _hidden_family(spec: ModelSpec):
    """What members of one pack must share (all but widths, depth and activation), or None
    when the network cannot be packed."""
    blocks = dense_chain(spec)
    if blocks is None:
        return None
    acts = {_activation(dense.activation) for dense, _ in blocks}
    if len(acts) != 1 or not isinstance(next(iter(acts)), str) or next(iter(acts)) not in PACKABLE:
        return None
    import keras

    from denselab.models import initializers
    from denselab.train._fleet_model import affine_sampler

    template = blocks[0][0]
    for name in (template.kernel_initializer or spec.kernel_initializer, spec.kernel_initializer):
        if affine_sampler(keras.initializers.get(initializers.function(name)), (2, 2)) is None:
            return None
    return repr((chain_pattern(spec), dataclasses.replace(spec, hidden=())))


def _widths(spec: ModelSpec) -> list:
    blocks = dense_chain(spec)
    return [dense.units for dense, _ in blocks] if blocks else []


def _summary(net: dict, spec_id: int) -> dict:
    """What `_cost` reads of a group of networks, combinable without looking at them again
    (`spec`: the id of the group's one network, -1 for a pack of several)."""
    spec = net["spec"]
    widths = _widths(spec)
    return {"members": len(net["index"]), "spec": spec_id, "widths": widths,
            "depth": len(widths), "width": max(widths, default=0), "chain": bool(widths),
            "acts": {_activation(spec.hidden[0].activation)} if widths else set(),
            **{name: {repr(net["selected"].get(name, "<base>"))} for name in SELECTED}}


def _group_summary(group: list, ids: dict) -> dict:
    """The `_summary` of a group of networks; `ids`: an id per distinct network spec (filled here),
    shared by the groups whose summaries will be combined."""
    summary = None
    for net in group:
        one = _summary(net, ids.setdefault(repr(net["spec"]), len(ids)))
        summary = one if summary is None else _combine(summary, one)
    return summary


def _combine(a: dict, b: dict) -> dict:
    return {"members": a["members"] + b["members"], "spec": a["spec"] if a["spec"] == b["spec"] else -1,
            "widths": a["widths"],
            "depth": max(a["depth"], b["depth"]), "width": max(a["width"], b["width"]),
            "chain": a["chain"] and b["chain"], "acts": a["acts"] | b["acts"],
            **{name: a[name] | b[name] for name in SELECTED}}


def _cost(s: dict, shape: dict) -> float:
    """Estimated seconds of one program for a group (its `_summary`; a pack when its networks differ)."""
    return sum(_costs(s, shape))


def _costs(s: dict, shape: dict) -> tuple:
    """(compile, run) seconds `_cost` adds up."""
    widths = s["widths"] if s["spec"] >= 0 else [s["width"]] * s["depth"]
    dims = [shape["n_in"]] + widths + [shape["n_out"]]
    flops = 6.0 * sum(a * b for a, b in zip(dims, dims[1:])) + ACTIVATION_FLOPS * len(s["acts"]) * sum(widths)
    variables = 2 * len(dims) - 2 if s["chain"] else 0
    steps = -(-shape["rows"] // shape["batch"])
    optimizers = len(s["optimizer"])
    per_step = STEP_FIXED_S + STEP_LAYER_S * (len(dims) - 1) + s["members"] * STEP_S \
        + OPTIMIZER_GROUP_S * (optimizers - 1) * variables
    run = shape["epochs"] * (steps * per_step + s["members"] * shape["rows"] * flops / RATE)
    compile_s = COMPILE_S + COMPILE_LAYER_S * len(widths) + COMPILE_ACTIVATION_S * (len(s["acts"]) - 1) \
        + COMPILE_OPTIMIZER_S * (optimizers - 1) \
        + COMPILE_SELECT_S * (len(s["output_activation"]) + len(s["loss"]) - 2)
    return compile_s, run


def _merge(groups: list, shape: dict) -> list:
    """Agglomerate: merge the pair of groups that saves the most estimated seconds, until none does.

    Pairwise savings are kept in a matrix and only the merged group's row is recomputed, so
    a call of a few hundred networks plans in well under a second."""
    ids: dict = {}
    summaries = [_group_summary(g, ids) for g in groups]
    costs = [_cost(s, shape) for s in summaries]
    n = len(groups)
    saved = np.full((n, n), -np.inf)

    def row(a):
        for b in range(n):
            if b != a and groups[b] is not None:
                value = costs[a] + costs[b] - _cost(_combine(summaries[a], summaries[b]), shape)
                saved[a, b] = saved[b, a] = value

    for a in range(n):
        for b in range(a + 1, n):
            saved[a, b] = saved[b, a] = costs[a] + costs[b] - _cost(_combine(summaries[a], summaries[b]), shape)
    while True:
        a, b = np.unravel_index(int(np.argmax(saved)), saved.shape)
        if not saved[a, b] > 0:
            break
        a, b = min(a, b), max(a, b)
        groups[a] = groups[a] + groups[b]
        summaries[a] = _combine(summaries[a], summaries[b])
        costs[a] = _cost(summaries[a], shape)
        groups[b] = None
        saved[b, :] = saved[:, b] = -np.inf
        row(a)
    return [g for g in groups if g is not None]


def _unit(group: list) -> Unit:
    """The Unit of a group: one network (its members may differ in SELECTED values), or a
    pack at its largest depth and width. Members of one optimizer are contiguous, so the
    program can update them as one group (`_fleet_program.Program.epoch`)."""
    group = sorted(group, key=lambda n: repr(n["selected"].get("optimizer", "<base>")))
    index, hparams, selected, widths, act = [], [], [], [], []
    for n in group:
        index += n["index"]
        hparams += n["hparams"]
        selected += [dict(n["selected"]) for _ in n["index"]]
    select = tuple(name for name in SELECTED
                   if len({repr(s.get(name, "<base>")) for s in selected}) > 1)
    specs = {repr(n["spec"]): n["spec"] for n in group}
    if len(specs) == 1:
        return Unit(group[0]["spec"], index, hparams, selected=selected, select=select)
    acts = tuple(sorted({_activation(n["spec"].hidden[0].activation) for n in group}))
    deepest = max((n["spec"] for n in group), key=lambda s: len(_widths(s)))
    width = max(max(_widths(n["spec"])) for n in group)
    hidden = tuple(dataclasses.replace(layer, units=width, activation=acts[0]) if layer.type == "dense" else layer
                   for layer in deepest.hidden)
    pack = dataclasses.replace(deepest, hidden=hidden)
    for n in group:
        for _ in n["index"]:
            widths.append(_widths(n["spec"]))
            act.append(acts.index(_activation(n["spec"].hidden[0].activation)))
    return Unit(pack, index, hparams, packed=acts, widths=widths, act=act, selected=selected, select=select)
