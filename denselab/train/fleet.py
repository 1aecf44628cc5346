"""The fleet: every member of one network structure trained in one compiled JAX program.

Folds × seeds × numeric hyperparameters (learning rate, dropout rate, L1/L2) are
members of one `jax.lax.scan` training loop (epochs × minibatches) vmapped over them,
compiled once with `jax.jit` and run through Keras's stateless API
(`model.stateless_call`, `optimizer.stateless_apply`); see `_fleet_program.py` for
the loop and `_fleet_model.py` for how the Keras model is built once and its
variables initialised per member. What changes shapes or code (layers, widths,
activations, optimizer class, loss, batch size, epochs) makes a new program, except
member hyperparameters (see `engine.split_hparams`): `_fleet_pack.plan` packs Dense
chains whose `depth`, `units` or `activation` differ into one program where that pays
(see `_fleet_model.PackedDense`), and lets one program select each member's
`optimizer`, `output_activation` and `loss`. A call's programs are traced in turn,
compiled in threads while the first trains, and trained `TRAIN_THREADS` at a time. Programs
are cached in this process by that structure key, and across processes by JAX's
persistent compilation cache in `~/.cache/denselab/jax` (env `DENSELAB_CACHE_DIR`;
set it to an empty string to turn the cache off).

The contract is `engine.py`'s: `train_members(model_spec, train_spec, head, members,
progress)` → `EngineResult`; `unsupported(model_spec)` says when the fleet cannot
carry a model (then `evaluate.run_engine` falls back to `model.fit`, loudly).

Owns: the fleet's memory budget (`memory_budget_bytes`, default half the available
RAM; members are split into equal groups that fit, transparently) and its program
cache (`cache_info()`).

Example:
    >>> from denselab.spec import ModelSpec, TrainSpec
    >>> from denselab.models.build import head_for
    >>> from denselab.train.engine import Member, targets
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    >>> y = targets(head := head_for("classification", 2, ModelSpec(), TrainSpec()), (x[:, 0] > 0).astype(int))
    >>> members = [Member(x[:30], y[:30], x[30:], y[30:], seed=s) for s in range(3)]
    >>> result = train_members(ModelSpec(), TrainSpec(epochs=3), head, members)
    >>> len(result.results), len(result.results[0].history["loss"])
    (3, 3)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import math
import os
import pickle
import threading
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np

from denselab import progress as progress_  # `progress` is the engine's callback argument
from denselab.models.build import Head
from denselab.spec import ModelSpec, TrainSpec
from denselab.train import _fleet_model, _fleet_pack, limits
from denselab.train._fleet_program import Program
from denselab.train.engine import EngineResult, Member, MemberResult, metric_value

CARRIED = ("dense", "dropout", "batchnorm", "conv2d", "maxpool2d", "flatten", "embedding",
           "simplernn", "lstm", "gru")
CHUNKS = 10  # progress reports per training run (the epoch loop is split into this many calls)
TRAIN_THREADS = 2  # programs of one call trained at once (each keeps about one core busy)

memory_budget_bytes: int | None = None  # None: half of the available memory
_shuffle = True  # test hook: False keeps each member's rows in order (to compare with fit(shuffle=False))

_PROGRAMS: dict = {}  # structure key → _Entry
_STATS = {"hits": 0, "misses": 0}
_LAST: dict = {}
_CACHE_READY = False
_CACHE_DIR: str | None = None
_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
_VERSIONS = (jax.__version__, keras.__version__)
_SOURCE_HASH = hashlib.sha256(b"".join(
    (Path(__file__).parent / f).read_bytes() for f in ("_fleet_model.py", "_fleet_program.py"))).hexdigest()


def unsupported(model_spec: ModelSpec) -> str | None:
    """None when the fleet carries `model_spec`, else a short reason."""
    for i, layer in enumerate(model_spec.hidden):
        if layer.type not in CARRIED:
            return f"model.hidden[{i}] is a `{layer.type}` layer"
    return None


def cache_info() -> dict:
    """Compiled training programs of this process: `hits`, `misses`, `size`."""
    return {**_STATS, "size": sum(len(e.compiled) for e in _PROGRAMS.values())}


def last_timings() -> dict:
    """Seconds spent by the last `train_members` call (for benchmarks): setup, trace (= export:
    Keras traced to StableHLO or read back from the cache dir, + lower), compile (init, chunk,
    finish), run; and `programs` / `packed`: how many programs it ran, how many of them packs."""
    return dict(_LAST)


def train_members(model_spec: ModelSpec, train_spec: TrainSpec, head: Head, members: list[Member],
                  progress=None, *, on_chunk=None, chunk_epochs: int | None = None) -> EngineResult:
    """Train every member in one compiled program (see `engine.py` for the contract).

    on_chunk: optional callback(index, histories, weights) called after each epoch
    chunk, for live views: `index` lists the members of the running group (positions
    in `members`), `histories` their per-epoch dicts so far (as in `MemberResult`),
    `weights` their current weights (`get_weights()` order). An exception it raises
    stops training (e.g. a cancel button).
    chunk_epochs: epochs per chunk (default: the run in `CHUNKS` chunks); 1 gives a
    callback per epoch, so a live view can stop or redraw within one epoch.
    """
    started = time.perf_counter()
    reason = unsupported(model_spec)
    if reason:
        raise ValueError(f"the fleet does not carry this model: {reason}; use engine='fit'")
    if not members:
        return EngineResult(results=[], engine="fleet")
    _enable_persistent_cache()
    input_shape = tuple(members[0].x_train.shape[1:])
    for i, m in enumerate(members):
        if tuple(m.x_train.shape[1:]) != input_shape:
            raise ValueError(f"members[{i}].x_train has rows of shape {m.x_train.shape[1:]}; "
                             f"members[0] has {input_shape}; one fleet trains one input shape")
        if len(m.x_train) == 0:
            raise ValueError(f"members[{i}] has no training rows; give each member at least one row")
    timings = {"setup_s": 0.0, "trace_s": 0.0, "compile_s": 0.0, "run_s": 0.0}
    timings.update(compile_init_s=0.0, compile_chunk_s=0.0, compile_finish_s=0.0, export_s=0.0, lower_s=0.0)
    units = _plan(model_spec, train_spec, head, members)
    results, notes, groups, done = [None] * len(members), [], 0, 0
    total = len(members) * train_spec.epochs
    subs = [[dataclasses.replace(members[i], hparams=hp) for i, hp in zip(u.index, u.hparams)] for u in units]
    preps = [_prepare_unit(u, train_spec, head, sub, input_shape, chunk_epochs, timings)
             for u, sub in zip(units, subs)]
    # Several programs: compile them in threads (measured under load 8–11 on 2 cores: 4 packs
    # in 52 s against 54–56 s one after another; more where cores are idle).
    pool = concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 1)) if len(preps) > 1 else None
    try:
        for prep, sub in zip(preps, subs) if pool else ():  # trace all here; compile on every core
            prep["fns"] = prep["entry"].compiled_for(prep["program"], _first_data(prep, sub), timings, pool)
        if pool and on_chunk is None:  # several programs, no live view: TRAIN_THREADS train at once
            trained = _train_together(units, subs, preps, train_spec, head, progress, total, timings)
        else:
            trained = []
            for unit, sub, prep in zip(units, subs, preps):  # the first program trains while the others compile
                moved = (lambda d, _t, _o=done: progress(_o + d, total)) if progress else None
                chunk_cb = (lambda idx, h, w, _u=unit: on_chunk([_u.index[i] for i in idx], h, w)) if on_chunk else None
                trained.append(_train_unit(unit, prep, train_spec, head, sub, moved, chunk_cb, timings))
                done += len(sub) * train_spec.epochs
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
            for prep in preps:
                prep["entry"].drop_unfinished()
    for unit, sub, (out, n_groups) in zip(units, subs, trained):
        for i, r in zip(unit.index, out):
            results[i] = r
        groups += n_groups
        if n_groups > 1:
            notes.append(f"fleet: {len(sub)} members trained in {n_groups} groups to fit the memory budget")
    packs = [u for u in units if u.packed]
    if len(units) > 1 or packs:
        notes.append(f"fleet: {sum(u.networks for u in units)} networks in {len(units)} programs ({len(packs)} packed)")
    _LAST.clear()
    _LAST.update(timings, total_s=time.perf_counter() - started, groups=groups, programs=len(units),
                 packed=len(packs), group_size=max(len(u.index) for u in units))
    return EngineResult(results=results, engine="fleet", notes=notes,
                        compile_s=timings["trace_s"] + timings["compile_s"], run_s=timings["run_s"])


def _train_together(units, subs, preps, train_spec, head, progress, total, timings) -> list:
    """`_train_unit` of every program, TRAIN_THREADS at a time (in call order), each in a thread:
    one program's small operations keep about one core busy (measured on the 2-D grid's nets),
    so two programs at once use both cores. Timings are summed over the programs."""
    lock, done = threading.Lock(), [0] * len(units)

    def moved(k, d):
        with lock:
            done[k] = d
            progress(sum(done), total)

    def one(k):
        own = dict.fromkeys(timings, 0.0)
        out = _train_unit(units[k], preps[k], train_spec, head, subs[k],
                          (lambda d, _t, _k=k: moved(_k, d)) if progress else None, None, own)
        with lock:
            for name, value in own.items():
                timings[name] = timings.get(name, 0.0) + value
        return out

    with concurrent.futures.ThreadPoolExecutor(TRAIN_THREADS) as trainers:
        return list(trainers.map(one, range(len(units))))


def _plan(model_spec, train_spec, head, members) -> list:
    """The call's programs (`_fleet_pack.plan`): one network, or packs where they pay."""
    rows = max(len(m.x_train) for m in members)
    return _fleet_pack.plan(model_spec, [m.hparams for m in members], epochs=train_spec.epochs, rows=rows,
                            n_in=int(np.prod(members[0].x_train.shape[1:])), n_out=head.n_outputs,
                            batch_size=train_spec.batch_size)


def _prepare_unit(unit, train_spec, head, members, input_shape, chunk_epochs, timings) -> dict:
    """One program's arrays, flags, entry, program and memory groups (no tracing yet)."""
    started = time.perf_counter()
    entry, model_spec, head, pack = _unit_entry(unit, train_spec, head, input_shape)
    hp = _fleet_model.member_arrays(model_spec, train_spec, members)
    if unit.packed:  # layers past a member's depth: no dropout, no penalty (they are the identity)
        depth = np.asarray([len(w) for w in unit.widths])
        after = {"rates": entry.fm.dropout_blocks, "l1": range(len(entry.fm.kernels)), "l2": range(len(entry.fm.kernels))}
        for name, blocks in after.items():
            if hp[name].shape[1] == len(blocks):
                past = np.asarray(list(blocks), np.int64)[None, :] >= depth[:, None]
                hp[name] = np.where(past, 0.0, hp[name]).astype(np.float32)
    patience = train_spec.patience if train_spec.patience and any(m.x_val is not None for m in members) else None
    flags = {"dropout": bool((hp["rates"] > 0).any()), "l1": bool((hp["l1"] > 0).any()),
             "l2": bool((hp["l2"] > 0).any()), "shuffle": _shuffle}
    epochs = train_spec.epochs
    limits.check(epochs, len(members), _param_count(entry.fm), max(len(m.x_eval) for m in members), head.n_outputs)
    chunk = chunk_epochs or math.ceil(epochs / min(epochs, CHUNKS))
    shapes = {
        "train": max(len(m.x_train) for m in members),
        "val": max(1, max(len(m.x_val if m.x_val is not None else m.x_eval) for m in members)),
        "eval": max(1, max(len(m.x_eval) for m in members)),
    }
    groups = _groups(members, entry, train_spec.batch_size, shapes, patience)
    if "optimizer" in pack and len(groups) == 1:  # contiguous runs of one optimizer: update them as groups
        flags["optimizer_groups"] = _runs(pack["optimizer"])
    if unit.estimate[1] >= 2 * unit.estimate[0] and _fleet_pack.transcendental(unit):
        flags["emitters"] = True  # see `_compile`
    program = entry.program(train_spec.batch_size, epochs, chunk, patience, flags)
    shapes["streams"] = max(len(_stream_keys([members[i if i is not None else g[0]] for i in g], pack,
                                             [i if i is not None else g[0] for i in g])[1]) for g in groups)
    timings["setup_s"] += time.perf_counter() - started
    return {"hp": hp, "pack": pack, "patience": patience, "entry": entry, "epochs": epochs, "chunk": chunk,
            "shapes": shapes, "program": program, "groups": groups, "fns": None}


def _group_data(prep, members, group) -> dict:
    padded = [members[i if i is not None else group[0]] for i in group]
    return _pack(padded, prep["hp"], [i if i is not None else group[0] for i in group], prep["shapes"], prep["pack"])


def _first_data(prep, members) -> dict:
    return _group_data(prep, members, prep["groups"][0])


def _train_unit(unit, prep, train_spec, head, members, progress, on_chunk, timings):
    """Train one program's members: (their results in order, number of memory groups)."""
    entry, program, patience = prep["entry"], prep["program"], prep["patience"]
    epochs, chunk, groups = prep["epochs"], prep["chunk"], prep["groups"]
    results, done, total = [], 0, len(members) * epochs
    for g, group in enumerate(groups):
        real = [members[i] for i in group if i is not None]
        data = _group_data(prep, members, group)
        if g == 0 and prep["fns"] is not None:  # compiled (or compiling) before training began
            t = time.perf_counter()
            fns = entry.resolve(prep["fns"])
            timings["compile_wait_s"] = timings.get("compile_wait_s", 0.0) + time.perf_counter() - t
        else:
            fns = entry.compiled_for(program, data, timings)
        t = time.perf_counter()
        data = jax.device_put(data)
        state = fns["init"](data["seed"], data["learning_rate"], data["pack"])
        history = []
        for c in range(math.ceil(epochs / chunk)):
            state, record = fns["chunk"](state, data["train"], np.int32(c * chunk))
            history.append(np.asarray(record))
            if progress:
                _publish(history[-1], len(real), epochs - c * chunk, head.metric)
                progress(done + len(real) * min(epochs, (c + 1) * chunk), total)
            if on_chunk:
                _report_chunk(on_chunk, group, real, head, history, state, entry.fm.weight_slots, epochs,
                              unit.widths)
        history = np.concatenate(history)[:epochs]  # (epochs, M, 5)
        out = jax.device_get(fns["finish"](state, data["train"]["early_stop"], data["x_eval"], data["y_eval"]))
        book = jax.device_get({k: state[k] for k in ("epochs_run", "best_epoch") if k in state})
        timings["run_s"] += time.perf_counter() - t
        for j, (i, member) in enumerate(zip(group, real)):
            result = _member_result(j, member, head, history, book, out, entry.fm.weight_slots,
                                    patience is not None and member.x_val is not None)
            if unit.packed:
                result.weights = _fleet_model.narrow_weights(result.weights, unit.widths[i])
            results.append(result)
        done += len(real) * epochs
    return results, len(groups)


def _unit_entry(unit, train_spec, head, input_shape) -> tuple:
    """(entry, model spec, head, structure arrays) of one program: its own specs and head where its
    members share an optimizer, output activation or loss, and what it selects or packs per member."""
    model_spec, own_train, head, select, choice = _fleet_model.select_arrays(
        unit.spec, train_spec, head, unit.selected, unit.select)
    entry = _entry(model_spec, own_train, head, input_shape, unit.packed, select)
    pack = _fleet_model.pack_arrays(entry.fm, unit.widths, unit.act) if unit.packed else {}
    return entry, model_spec, head, {**pack, **choice}


def initial_weights(model_spec: ModelSpec, train_spec: TrainSpec, head: Head, members: list[Member]) -> list:
    """Each member's starting weights in `get_weights()` order: what `train_members` starts from.

    Same member seed, same weights, whatever the other members are.
    """
    out = [None] * len(members)
    for unit in _plan(model_spec, train_spec, head, members):
        sub = [dataclasses.replace(members[i], hparams=hp) for i, hp in zip(unit.index, unit.hparams)]
        entry, spec, own_head, pack = _unit_entry(unit, train_spec, head, tuple(members[0].x_train.shape[1:]))
        program = Program(entry.fm, own_head, train_spec.batch_size, 1, 1, None,
                          {"dropout": False, "l1": False, "l2": False, "shuffle": False})
        hp = _fleet_model.member_arrays(spec, train_spec, sub)
        seeds = np.asarray([m.seed & 0xFFFFFFFF for m in sub], np.uint32)
        state = jax.device_get(jax.jit(program.init_fn)(seeds, hp["learning_rate"], pack))
        for j, i in enumerate(unit.index):
            weights = [np.asarray(state["trainable" if kind == "t" else "non_trainable"][k][j])
                       for kind, k in entry.fm.weight_slots]
            out[i] = _fleet_model.narrow_weights(weights, unit.widths[j]) if unit.packed else weights
    return out


# --- programs and their cache --------------------------------------------------

class _Entry:
    """One structure's built model and its compiled programs, by shapes."""

    def __init__(self, fm, head, key: str):
        self.fm, self.head, self.key = fm, head, key
        self.programs: dict = {}
        self.compiled: dict = {}

    def program(self, batch_size, epochs, chunk, patience, flags) -> Program:
        key = (batch_size, epochs, chunk, patience, tuple(sorted(flags.items())))
        if key not in self.programs:
            self.programs[key] = Program(self.fm, self.head, batch_size, epochs, chunk, patience, flags)
            self.programs[key].key = repr(key)
        return self.programs[key]

    def compiled_for(self, program: Program, data: dict, timings: dict, pool=None) -> dict:
        """Init, chunk and finish executables for these members' shapes (compiled once).

        Each program is traced once per machine: its StableHLO is exported
        (`jax.export`) to the cache dir, and a later process deserializes it instead
        of tracing Keras again; XLA's executable comes from JAX's persistent cache.
        pool: compile there (XLA compiles outside the GIL) and return futures; `resolve`
        waits for them. Tracing stays in the calling thread.
        """
        shapes = jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), data)
        key = (id(program), repr(shapes))
        if key in self.compiled:
            _STATS["hits"] += 1
            return self.resolve(self.compiled[key])
        _STATS["misses"] += 1
        base = repr((self.key, program.key, shapes, _VERSIONS, jax.default_backend()))
        t = time.perf_counter()
        init = _export("init", program.init_fn, (data["seed"], data["learning_rate"], data["pack"]), base)
        state = jax.tree_util.tree_unflatten(
            init.out_tree, [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in init.out_avals])
        early_stop = data["train"]["early_stop"]
        args = {"init": (data["seed"], data["learning_rate"], data["pack"]),
                "chunk": (state, data["train"], jax.ShapeDtypeStruct((), jnp.int32)),
                "finish": (state, early_stop, data["x_eval"], data["y_eval"])}
        exported = {"init": init,
                    "chunk": _export("chunk", program.chunk_fn, args["chunk"], base),
                    "finish": _export("finish", program.finish_fn, args["finish"], base)}
        timings["export_s"] = timings.get("export_s", 0.0) + time.perf_counter() - t  # Keras traced (or read back)
        t_lower = time.perf_counter()
        lowered = {name: jax.jit(exp.call, donate_argnums=(0,) if name == "chunk" else ()).lower(*args[name])
                   for name, exp in exported.items()}
        timings["lower_s"] = timings.get("lower_s", 0.0) + time.perf_counter() - t_lower
        timings["trace_s"] += time.perf_counter() - t
        def compile_one(name, low):
            t = time.perf_counter()
            done = _compile(low, once=name != "chunk", emitters=name == "chunk" and program.flags.get("emitters", False))
            timings[f"compile_{name}_s"] = timings.get(f"compile_{name}_s", 0.0) + time.perf_counter() - t
            timings["compile_s"] += time.perf_counter() - t
            return done

        if pool is not None:
            fns = {name: pool.submit(compile_one, name, low) for name, low in lowered.items()}
        else:
            fns = {name: compile_one(name, low) for name, low in lowered.items()}
        self.compiled[key] = fns
        return fns

    def drop_unfinished(self) -> None:
        """Forget compiles a stopped call left cancelled or failed (the next call compiles again)."""
        for key, fns in list(self.compiled.items()):
            futures = [f for f in fns.values() if isinstance(f, concurrent.futures.Future)]
            if any(f.cancelled() or f.exception() is not None for f in futures):
                del self.compiled[key]
            elif futures:
                self.resolve(fns)

    def resolve(self, fns: dict) -> dict:
        """`fns` with every compile that ran in a pool waited for (and kept so)."""
        if not any(isinstance(f, concurrent.futures.Future) for f in fns.values()):
            return fns
        done = {name: f.result() if isinstance(f, concurrent.futures.Future) else f for name, f in fns.items()}
        for key, value in self.compiled.items():
            if value is fns:
                self.compiled[key] = done
        return done


def _compile(lowered, once: bool = False, emitters: bool = False):
    """XLA:CPU's classic fusion emitters compile these small programs ~40 % faster, and
    run them as fast; other backends, or a jaxlib without the option, get the defaults.

    once: a program that runs once per call (init, finish) skips LLVM's optimisation
    (`xla_backend_optimization_level=0`): measured on 2 cores, its compile drops ~3×
    and its run (microseconds) does not matter. The training chunk is compiled at level 1:
    measured on 2 cores (rock 10-fold and f1 × 32 of `benchmarks/cv_speed.py`), 23 % less
    compile CPU than the default (2), the same run time and bit-identical histories; at
    level 0 it compiled 4× faster but ran 2–4× slower, and rounded differently.

    emitters: a long run (`flags["emitters"]`) of hidden layers that compute exponentials
    keeps XLA's newer fusion emitters (see `_fleet_pack.transcendental`)."""
    global _COMPILER_OPTIONS
    if _COMPILER_OPTIONS and jax.default_backend() == "cpu":
        options = {**_COMPILER_OPTIONS, "xla_backend_optimization_level": 0 if once else 1}
        if emitters:
            options.pop("xla_cpu_use_fusion_emitters", None)
        try:
            return lowered.compile(compiler_options=options)
        except Exception:  # an XLA without this option
            _COMPILER_OPTIONS = {}
    return lowered.compile()


def _export(name: str, fn, args, base: str):
    """`jax.export` of `jit(fn)` at `args`, read from / written to the cache dir when there is one.

    Stored with pickle (jax's own serializer needs `flatbuffers`, not a dependency);
    like JAX's compilation cache, the cache dir must be trusted.
    """
    path = None
    if _CACHE_DIR:
        digest = hashlib.sha256((base + name + _SOURCE_HASH).encode()).hexdigest()[:32]
        path = Path(_CACHE_DIR) / "fleet" / f"{digest}.{name}.jaxexport"
        if path.exists():
            try:
                return pickle.loads(path.read_bytes())
            except Exception:  # a stale, truncated or foreign file: export again
                pass
    exp = jax.export.export(jax.jit(fn))(*args)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(dataclasses.replace(exp, _get_vjp=None)))
            tmp.replace(path)
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            pass
    return exp


def _entry(model_spec, train_spec, head, input_shape, packed=None, select=None) -> _Entry:
    key = _structure_key(model_spec, train_spec, head, input_shape) + (f" packed {packed}" if packed else "") \
        + (f" select {sorted(select.items())}" if select else "")
    if key not in _PROGRAMS:
        fm = _fleet_model.build(model_spec, train_spec, head, input_shape, packed, select)
        _PROGRAMS[key] = _Entry(fm, head, key)
    return _PROGRAMS[key]


def _structure_key(model_spec, train_spec, head, input_shape) -> str:
    """What shapes the program: the spec with every numeric hyperparameter blanked."""
    hidden = tuple(dataclasses.replace(
        layer, dropout=0.5 if layer.dropout > 0 else 0.0, l1=0.0, l2=0.0,
        rate=None if layer.rate is None else 0.0) for layer in model_spec.hidden)
    spec = dataclasses.replace(model_spec, hidden=hidden)
    train = dataclasses.replace(train_spec, learning_rate=1.0, patience=None, validation_split=0.0,
                                noise_sigma=0.0, noise_fraction=0.0)
    return repr((spec, train.optimizer, train.momentum, train.nesterov, head, input_shape))


# --- data, state and results ----------------------------------------------------

def _pad(arrays, n_max: int) -> np.ndarray:
    """Stack members' rows, padding each with copies of its first row.

    Padded rows are masked out of every sum, but their values still flow through the
    loss: a real row keeps every loss finite (an all-zero one-hot target gives
    Cauchy–Schwarz a 0·inf gradient that the mask cannot cancel).
    """
    first = arrays[0]
    out = np.zeros((len(arrays), n_max) + tuple(first.shape[1:]), np.float32)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
        if 0 < len(a) < n_max:
            out[i, len(a):] = a[0]
    return out


def _pack(members, hp, index, shapes, pack) -> dict:
    """Padded per-member arrays (numpy) and row counts; `pack`: a pack's structure arrays."""
    val_x = [m.x_val if m.x_val is not None else m.x_eval for m in members]
    val_y = [m.y_val if m.x_val is not None else m.y_eval for m in members]
    idx = np.asarray(index)
    stream, keys = _stream_keys(members, pack, index)
    keys += [keys[0]] * (shapes["streams"] - len(keys))  # equal groups, equal shapes: pad with stream 0
    width = len(keys[0][2])
    train = {
        "stream": stream,
        "streams": {"seed": np.asarray([k[0] for k in keys], np.uint32), "n": np.asarray([k[1] for k in keys], np.int32),
                    "widths": np.asarray([k[2] for k in keys], np.int32).reshape(len(keys), width)},
        "x_train": _pad([m.x_train for m in members], shapes["train"]),
        "y_train": _pad([m.y_train for m in members], shapes["train"]),
        "n_train": np.asarray([len(m.x_train) for m in members], np.int32),
        "x_val": _pad(val_x, shapes["val"]),
        "y_val": _pad(val_y, shapes["val"]),
        "n_val": np.asarray([len(x) for x in val_x], np.int32),
        "seed": np.asarray([m.seed & 0xFFFFFFFF for m in members], np.uint32),
        "rates": hp["rates"][idx], "l1": hp["l1"][idx], "l2": hp["l2"][idx],
        "early_stop": np.asarray([m.x_val is not None for m in members]),
    }
    return {"train": train, "seed": train["seed"], "learning_rate": hp["learning_rate"][idx],
            "pack": {k: v[idx] for k, v in pack.items()},
            "x_eval": _pad([m.x_eval for m in members], shapes["eval"]),
            "y_eval": _pad([m.y_eval for m in members], shapes["eval"])}


def _runs(index) -> tuple | None:
    """((value, start, stop), …) of `index`'s runs of equal values, or None when a value has
    more than one run."""
    runs, start = [], 0
    for i in range(1, len(index) + 1):
        if i == len(index) or index[i] != index[start]:
            runs.append((int(index[start]), start, i))
            start = i
    return tuple(runs) if len({v for v, _, _ in runs}) == len(runs) else None


def _stream_keys(members, pack, index) -> tuple:
    """(each member's stream (M,) int32, the streams' (seed, rows, pack widths)): members with
    equal keys draw the same shuffles and dropout masks, so the program draws them once."""
    widths = pack.get("widths") if "widths" in pack else None
    keys, stream = {}, []
    for m, i in zip(members, index):
        key = (m.seed & 0xFFFFFFFF, len(m.x_train), tuple(int(w) for w in widths[i]) if widths is not None else ())
        stream.append(keys.setdefault(key, len(keys)))
    return np.asarray(stream, np.int32), list(keys)


def _member_result(j, member, head, history, book, out, slots, early_stop) -> MemberResult:
    trainable, non_trainable, predictions, loss_rows = out
    runs = int(book["epochs_run"][j])
    h = history[:runs, j]
    names = ("loss", head.metric, "val_loss", f"val_{head.metric}")
    hist = {name: [float(v) for v in h[:, k]] for k, name in enumerate(names)}
    best = int(book["best_epoch"][j]) if early_stop else runs - 1
    n = len(member.x_eval)
    pred = np.asarray(predictions[j, :n])
    if n:  # fit.score's definition: mean per-row loss of the head, the head's metric
        scores = {"loss": float(np.mean(loss_rows[j, :n])), head.metric: metric_value(head, member.y_eval, pred)}
    else:
        scores = {"loss": float("nan"), head.metric: float("nan")}
    weights = [np.asarray(trainable[i][j] if kind == "t" else non_trainable[i][j]) for kind, i in slots]
    return MemberResult(history=hist, scores=scores, predictions=pred, weights=weights,
                        best_epoch=best, epochs_run=runs)


def _publish(record: np.ndarray, n_real: int, left: int, metric: str) -> None:
    """The chunk's last real epoch, mean over the real members, for the shell's bar."""
    row = record[min(len(record), left) - 1, :n_real, :4]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a member without validation rows: NaN
        means = np.nanmean(row, axis=0)
    progress_.publish(dict(zip(("loss", metric, "val_loss", f"val_{metric}"), means)))


def _report_chunk(on_chunk, group, real, head, history, state, slots, epochs, widths=None) -> None:
    """Call `on_chunk` with the running group's histories and weights so far (`widths`:
    a pack's member widths, to cut each member's weights to its own network)."""
    h = np.concatenate(history)[:epochs]
    names = ("loss", head.metric, "val_loss", f"val_{head.metric}")
    snap = jax.device_get({k: state[k] for k in ("trainable", "non_trainable")})
    histories, weights = [], []
    for j in range(len(real)):
        histories.append({name: [float(v) for v in h[:, j, k]] for k, name in enumerate(names)})
        own = [np.asarray(snap["trainable" if kind == "t" else "non_trainable"][i][j]) for kind, i in slots]
        weights.append(_fleet_model.narrow_weights(own, widths[group[j]]) if widths else own)
    on_chunk([i for i in group if i is not None], histories, weights)


def _groups(members, entry, batch_size, shapes, patience) -> list:
    """Member indices in equal groups that fit the memory budget (None pads the last group)."""
    n = len(members)
    per_member = _member_bytes(entry.fm, batch_size, shapes, members[0], patience)
    budget = memory_budget_bytes if memory_budget_bytes is not None else _available_bytes() // 2
    size = max(1, min(n, int(budget // max(per_member, 1))))
    n_groups = math.ceil(n / size)
    size = math.ceil(n / n_groups)
    index = list(range(n)) + [None] * (n_groups * size - n)
    return [index[g * size:(g + 1) * size] for g in range(n_groups)]


def _member_bytes(fm, batch_size, shapes, member, patience) -> int:
    """A generous estimate of one member's memory in the program (float32)."""
    def size(v):
        return int(np.prod(v.shape)) if len(v.shape) else 1

    params = _param_count(fm)
    opt = sum(size(v) for v in fm.opt_slots)
    width = sum(int(np.prod(layer.output.shape[1:])) for layer in fm.model.layers)
    row = int(np.prod(member.x_train.shape[1:])) + int(np.prod(member.y_train.shape[1:]))
    state = params * (3 if patience else 2) + opt
    work = 4 * params + 4 * batch_size * width
    data = (shapes["train"] + shapes["val"] + shapes["eval"]) * row + 2 * max(shapes["val"], shapes["eval"]) * width
    return 4 * 2 * (state + work + data)


def _param_count(fm) -> int:
    """Weights of one member (trainable and not), as `get_weights()` holds them."""
    return sum(int(np.prod(v.shape)) if len(v.shape) else 1 for v in [*fm.trainable, *fm.non_trainable])


_available_bytes = limits.available_bytes


def _enable_persistent_cache() -> None:
    """Point JAX's persistent compilation cache at denselab's cache dir (once, lazily)."""
    global _CACHE_READY, _CACHE_DIR
    if _CACHE_READY:
        return
    _CACHE_READY = True
    path = os.environ.get("DENSELAB_CACHE_DIR")
    if path is None:
        path = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "denselab" / "jax")
    if not path:  # turned off
        return
    if jax.config.jax_compilation_cache_dir:  # the user chose one: use it
        _CACHE_DIR = jax.config.jax_compilation_cache_dir
        return
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    _CACHE_DIR = path
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    try:  # a compilation before this point fixed the cache as unused; let JAX look again
        from jax._src import compilation_cache

        if compilation_cache._cache is None:
            compilation_cache.reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover - JAX internals moved
        pass
