"""Which members of one fleet call train in which program: one per network, or packs.

Members may carry `depth`, `units` and `activation` (`engine.STRUCTURAL`; made member
data by `engine.split_hparams` for plain Dense MLPs), so the networks of one call can
differ. Each distinct network can have a program of its own, or several can share a
*pack*: the MLP at their largest depth and width, in which each member uses exactly
its own part (`_fleet_model.PackedDense`; as TabPack trains many MLPs at once). A pack
costs the padding's FLOPs and saves compiles. `plan` chooses by estimated seconds
(compile + run; the constants below were measured on the 2-core machine of
`benchmarks/search_speed.py`): it starts from one program per network and merges the
two groups whose merge saves the most, while a merge saves anything.

Example:
    >>> from denselab.spec import LayerSpec, ModelSpec
    >>> spec = ModelSpec(hidden=(LayerSpec(units=32),))
    >>> units = plan(spec, [{"units": 8}, {"units": 16}, {"units": 16}], epochs=20, rows=100, n_in=4, n_out=3)
    >>> [(len(u.index), u.packed) for u in units]
    [(3, ('relu',))]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from denselab.models import activations as activation_names
from denselab.spec import ModelSpec, TrainSpec
from denselab.train.engine import STRUCTURAL, apply_hparams, plain_mlp

# Activations a pack may select per member: elementwise, finite gradients everywhere
# (an unselected candidate still gets a zero cotangent, and 0 · inf would be NaN, so
# `exponential` stays out); `prelu` is a layer with weights of its own.
PACKABLE = ("linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "gelu", "silu",
            "leaky_relu", "relu6", "hard_sigmoid", "mish", "arctan", "binary_step")

# Seconds, measured with `fleet.last_timings()` on the 2-core machine of
# `benchmarks/search_speed.py` (750 rows × 10 features, batch 32; load average ~8, so
# every figure is ~4× an idle machine's: only their ratios decide). A program's cold
# trace + compile grows with its depth and its candidate activations; a run costs each
# minibatch step STEP_FIXED_S, each member-step STEP_S, and the FLOPs (3 matmuls per
# Dense per row: forward and two backward) at RATE.
COMPILE_S = 4.0
COMPILE_LAYER_S = 0.5
COMPILE_ACTIVATION_S = 0.2
RATE = 8.0e9
STEP_FIXED_S = 5.0e-4
STEP_S = 4.0e-5
ACTIVATION_FLOPS = 10.0


@dataclass
class Unit:
    """One program of a fleet call: its network and the call's members it trains.

    packed: None (one network: `spec` is the members' own), or the pack's candidate
    activations; then `spec` is the pack's MLP, `widths[j]` member j's hidden widths
    and `act[j]` its index into `packed`. `hparams`: each member's non-structural
    overrides (what `member_arrays` reads).
    """

    spec: ModelSpec
    index: list
    hparams: list
    packed: tuple | None = None
    widths: list | None = None
    act: list | None = None


def network_of(model_spec: ModelSpec, hparams: dict) -> tuple[ModelSpec, dict]:
    """(the member's own network, its other overrides): `apply_hparams` of its structure,
    written out as `hidden`, so equal networks compare equal however they were written."""
    structural = {k: hparams[k] for k in STRUCTURAL if k in hparams}
    rest = {k: v for k, v in hparams.items() if k not in STRUCTURAL}
    if not structural:
        return model_spec, rest
    spec, _ = apply_hparams(model_spec, TrainSpec(), structural)
    hidden = tuple(dataclasses.replace(layer, activation=_activation(layer.activation)) for layer in spec.hidden)
    return dataclasses.replace(spec, depth=None, units=None, layer=None, hidden=hidden), rest


def plan(model_spec: ModelSpec, hparams: list, *, epochs: int, rows: int, n_in: int, n_out: int,
         batch_size: int = 32) -> list[Unit]:
    """The programs for members with these `hparams` (one Unit per program, in first-member order)."""
    nets: dict = {}
    for j, hp in enumerate(hparams):
        spec, rest = network_of(model_spec, hp)
        entry = nets.setdefault(repr(spec), {"spec": spec, "index": [], "hparams": []})
        entry["index"].append(j)
        entry["hparams"].append(rest)
    if len(nets) == 1:
        (only,) = nets.values()
        return [Unit(only["spec"], only["index"], only["hparams"])]
    shape = {"epochs": epochs, "rows": rows, "n_in": n_in, "n_out": n_out, "batch": batch_size}
    families: dict = {}
    for key, net in nets.items():
        families.setdefault(_family(net["spec"]), []).append(net)
    units = []
    for family, members in families.items():
        if family is None or len(members) == 1:
            units += [Unit(n["spec"], n["index"], n["hparams"]) for n in members]
            continue
        for group in _merge([[n] for n in members], shape):
            units.append(_unit(group))
    return sorted(units, key=lambda u: u.index[0])


def _activation(name):
    return activation_names.get(name) if name else "relu"


def _family(spec: ModelSpec):
    """What members of one pack must share (all but widths, depth and activation), or None
    when the network cannot be packed."""
    template = plain_mlp(spec)
    if template is None or not isinstance(_activation(template.activation), str) \
            or _activation(template.activation) not in PACKABLE:
        return None
    if any(_activation(layer.activation) != _activation(template.activation) for layer in spec.hidden):
        return None
    import keras

    from denselab.models import initializers
    from denselab.train._fleet_model import affine_sampler

    for name in (template.kernel_initializer or spec.kernel_initializer, spec.kernel_initializer):
        if affine_sampler(keras.initializers.get(initializers.function(name)), (2, 2)) is None:
            return None
    blank = dataclasses.replace(template, units=1, activation="relu")
    return repr(dataclasses.replace(spec, hidden=(blank,)))


def _widths(spec: ModelSpec) -> list:
    return [layer.units for layer in spec.hidden]


def _cost(group: list, shape: dict) -> float:
    """Estimated seconds of one program for the networks in `group` (a pack when > 1)."""
    members = sum(len(n["index"]) for n in group)
    acts = {_activation(n["spec"].hidden[0].activation) for n in group}
    if len(group) == 1:
        widths = _widths(group[0]["spec"])
    else:
        depth = max(len(_widths(n["spec"])) for n in group)
        widths = [max(max(_widths(n["spec"])) for n in group)] * depth
    dims = [shape["n_in"]] + widths + [shape["n_out"]]
    flops = 6.0 * sum(a * b for a, b in zip(dims, dims[1:])) + ACTIVATION_FLOPS * len(acts) * sum(widths)
    steps = -(-shape["rows"] // shape["batch"])
    run = shape["epochs"] * (steps * (STEP_FIXED_S + members * STEP_S) + members * shape["rows"] * flops / RATE)
    compile_s = COMPILE_S + COMPILE_LAYER_S * len(widths) + COMPILE_ACTIVATION_S * (len(acts) - 1)
    return compile_s + run


def _merge(groups: list, shape: dict) -> list:
    """Agglomerate: merge the pair of groups that saves the most estimated seconds, until none does."""
    costs = [_cost(g, shape) for g in groups]
    while len(groups) > 1:
        best = None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                saved = costs[a] + costs[b] - _cost(groups[a] + groups[b], shape)
                if saved > 0 and (best is None or saved > best[0]):
                    best = (saved, a, b)
        if best is None:
            break
        _, a, b = best
        groups[a] = groups[a] + groups.pop(b)
        costs.pop(b)
        costs[a] = _cost(groups[a], shape)
    return groups


def _unit(group: list) -> Unit:
    """The Unit of a group: the network itself, or a pack at its largest depth and width."""
    if len(group) == 1:
        return Unit(group[0]["spec"], group[0]["index"], group[0]["hparams"])
    acts = tuple(sorted({_activation(n["spec"].hidden[0].activation) for n in group}))
    depth = max(len(_widths(n["spec"])) for n in group)
    width = max(max(_widths(n["spec"])) for n in group)
    spec = group[0]["spec"]
    template = dataclasses.replace(spec.hidden[0], units=width, activation=acts[0])
    pack = dataclasses.replace(spec, hidden=(template,) * depth)
    index, hparams, widths, act = [], [], [], []
    for n in group:
        for i, hp in zip(n["index"], n["hparams"]):
            index.append(i)
            hparams.append(hp)
            widths.append(_widths(n["spec"]))
            act.append(acts.index(_activation(n["spec"].hidden[0].activation)))
    return Unit(pack, index, hparams, packed=acts, widths=widths, act=act)
