"""The fleet against the usual ways of cross-validating a small Keras network.

Two workloads, each approach in a fresh Python process, timed from after its imports
(import time reported apart), wall clock and CPU time of that process:

- rock CV: 74 rows of the bundled `rocks` data (a stratified random subset of the
  1178 samples; the 10 major oxides, standardized; 5 rock types), 10-fold
  stratified CV of Dense 20 relu → 5 softmax, Adam 0.001, 100 epochs, batch 5, by
  (a) a Keras 3 `model.fit` loop per fold, (b) `keras.wrappers.SKLearnClassifier` +
  scikit-learn `cross_val_score`, (c) scikit-learn `MLPClassifier` (same layer,
  Adam, batch, 100 epochs), and the fleet twice: cold (empty compilation cache, a
  fresh `DENSELAB_CACHE_DIR`) and warm (the cache a previous process filled).
- 2-D f1: 4000 points uniform in [-50, 50]² (divided by 50), f1 labels, 80/20 split;
  Dense 20 relu → Dropout → Dense 20 relu → 1 sigmoid, Adam, batch 32, 50 epochs;
  32 members = dropout {0, 0.1, 0.2, 0.3} × learning rate {1e-3, 3e-3} × 4 seeds,
  by 32 `model.fit` calls and by one fleet (cold and warm).

Prints a table and ends with `name: number` lines. `--quick` (under 120 s) uses 50
epochs for rock and 20 for f1, times 2 of the 10 folds of the two Keras rock loops
(× 5) and 1 of the 32 f1 `fit` calls (× 32). The machine may be shared: the load
average is printed, and each process's CPU seconds next to its wall seconds.

Usage:
    python benchmarks/cv_speed.py [--quick]
"""

from __future__ import annotations

import os
import tempfile
import time

import _worker  # benchmarks/_worker.py: a measured side in a fresh process

START = time.perf_counter()


# --- workers (each runs in its own process) --------------------------------------------

def _imports():
    """Everything a worker imports, so its import time is reported as such and not in its wall time:
    `import denselab` loads its modules on first use (PEP 562), which put ~0.06 s of the fleet's module
    imports (and 0.03 s of the data module's) inside the timed work (the fleet vs MLPClassifier ratio
    went from 8.7 to 7.2 on 2 cores without any change of speed)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import denselab  # noqa: F401
    import denselab.data.sources  # noqa: F401
    import denselab.data.synthetic  # noqa: F401
    import denselab.models.build  # noqa: F401
    import denselab.spec  # noqa: F401
    import denselab.train.engine  # noqa: F401
    import denselab.train.fleet  # noqa: F401
    import keras  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.neural_network  # noqa: F401


def _rock_data():
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold, train_test_split

    from denselab.data.sources import FILES

    frame = pd.read_csv(FILES / "rocks" / "mamani2010_5class_majors.csv")
    oxides = ["SiO2", "TiO2", "Al2O3", "Fe2O3", "MnO", "MgO", "CaO", "Na2O", "K2O", "P2O5"]
    frame = frame[oxides + ["Rock_type"]].dropna()
    classes, y = np.unique(frame["Rock_type"], return_inverse=True)
    index, _ = train_test_split(np.arange(len(frame)), train_size=74, stratify=y, random_state=0)
    x = frame[oxides].to_numpy(np.float32)[index]
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    y = y[index]
    folds = list(StratifiedKFold(10, shuffle=True, random_state=0).split(x, y))
    return x, y, len(classes), folds


def _f1_data():
    import numpy as np

    from denselab.data.synthetic import f1, points

    x = points(4000, 0)
    y = f1(x)
    x = (x / 50.0).astype(np.float32)
    return x[:3200], y[:3200], x[3200:], y[3200:]


F1_GRID = [(d, lr, s) for d in (0.0, 0.1, 0.2, 0.3) for lr in (1e-3, 3e-3) for s in range(4)]


def _keras_mlp(n_in, n_out, hidden=(20,), dropout=0.0, lr=1e-3):
    import keras

    layers = [keras.Input((n_in,))]
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(units, activation="relu"))
        if i == 0 and len(hidden) > 1:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(n_out, activation="softmax" if n_out > 1 else "sigmoid"))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss="categorical_crossentropy" if n_out > 1 else "binary_crossentropy", metrics=["accuracy"])
    return model


def worker_rock_keras_fit(quick):
    import keras
    import numpy as np

    x, y, k, folds = _rock_data()
    epochs = 50 if quick else 100
    scores = []
    for i, (tr, te) in enumerate(folds[:2] if quick else folds):
        keras.utils.set_random_seed(i)
        model = _keras_mlp(10, k)
        model.fit(x[tr], np.eye(k)[y[tr]], epochs=epochs, batch_size=5, verbose=0)
        scores.append(model.evaluate(x[te], np.eye(k)[y[te]], verbose=0)[1])
    return {"accuracy": float(np.mean(scores)), "scale": 10 / len(scores)}


def worker_rock_sklearn_wrapper(quick):
    import warnings

    import keras
    import numpy as np
    from sklearn.model_selection import cross_val_score

    x, y, k, folds = _rock_data()
    keras.utils.set_random_seed(0)

    def build(X, y):
        return _keras_mlp(X.shape[1], y.shape[1] if y.ndim == 2 else k)

    # fit arguments go through cross_val_score: clone() drops the wrapper's fit_kwargs
    # (Keras 3.15), which would silently train every fold for one epoch
    clf = keras.wrappers.SKLearnClassifier(model=build)
    fit_args = {"epochs": 50 if quick else 100, "batch_size": 5, "verbose": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(clf, x, y, cv=folds[:2] if quick else folds, params=fit_args)
    return {"accuracy": float(np.mean(scores)), "scale": 10 / len(scores)}


def worker_rock_sklearn_mlp(quick):
    import warnings

    import numpy as np
    from sklearn.model_selection import cross_val_score
    from sklearn.neural_network import MLPClassifier

    x, y, k, folds = _rock_data()
    epochs = 50 if quick else 100
    clf = MLPClassifier(hidden_layer_sizes=(20,), activation="relu", solver="adam", learning_rate_init=1e-3,
                        batch_size=5, max_iter=epochs, n_iter_no_change=epochs + 1, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(clf, x, y, cv=folds)
    return {"accuracy": float(np.mean(scores))}


def worker_rock_fleet(quick):
    import numpy as np

    from denselab.models.build import head_for
    from denselab.spec import LayerSpec, ModelSpec, TrainSpec
    from denselab.train import fleet
    from denselab.train.engine import Member, targets

    x, y, k, folds = _rock_data()
    spec = ModelSpec(hidden=(LayerSpec(units=20, activation="relu"),))
    train = TrainSpec(epochs=50 if quick else 100, batch_size=5, learning_rate=1e-3)
    head = head_for("classification", k, spec, train)
    members = [Member(x[tr], targets(head, y[tr]), x[te], targets(head, y[te]), seed=i)
               for i, (tr, te) in enumerate(folds)]
    result = fleet.train_members(spec, train, head, members)
    return {"accuracy": float(np.mean([r.scores["accuracy"] for r in result.results])),
            "compile_s": result.compile_s, "timings": fleet.last_timings()}


def worker_f1_fit(quick):
    import keras
    import numpy as np

    x, y, xt, yt = _f1_data()
    grid = F1_GRID[:1] if quick else F1_GRID
    scores = []
    for d, lr, s in grid:
        keras.utils.set_random_seed(s)
        model = _keras_mlp(2, 1, hidden=(20, 20), dropout=d, lr=lr)
        model.fit(x, y.astype(np.float32), epochs=20 if quick else 50, batch_size=32, verbose=0)
        scores.append(model.evaluate(xt, yt.astype(np.float32), verbose=0)[1])
    return {"accuracy": float(np.mean(scores)), "models": len(grid), "scale": len(F1_GRID) / len(grid)}


def worker_f1_fleet(quick):
    import numpy as np

    from denselab.models.build import head_for
    from denselab.spec import LayerSpec, ModelSpec, TrainSpec
    from denselab.train import fleet
    from denselab.train.engine import Member, targets

    x, y, xt, yt = _f1_data()
    spec = ModelSpec(hidden=(LayerSpec(units=20, activation="relu", dropout=0.2),
                             LayerSpec(units=20, activation="relu")))
    train = TrainSpec(epochs=20 if quick else 50, batch_size=32)
    head = head_for("classification", 2, spec, train)
    members = [Member(x, targets(head, y), xt, targets(head, yt), seed=s,
                      hparams={"dropout": d, "learning_rate": lr}) for d, lr, s in F1_GRID]
    result = fleet.train_members(spec, train, head, members)
    return {"accuracy": float(np.mean([r.scores["accuracy"] for r in result.results])),
            "compile_s": result.compile_s, "timings": fleet.last_timings(), "models": len(members)}


def run_worker(name: str, quick: bool) -> None:
    _imports()
    _worker.report(START, name, lambda: globals()[f"worker_{name}"](quick))


# --- the driver ---------------------------------------------------------------------------

def measure(name: str, quick: bool, env: dict | None = None) -> dict:
    return _worker.measure(__file__, name, quick, env, width=22)


def main() -> None:
    args = _worker.arguments(__doc__, "reduced epochs and f1 fit calls (under 120 s)")
    if args.worker:
        return run_worker(args.worker, args.quick)

    q = args.quick
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)", flush=True)
    r = {}
    with tempfile.TemporaryDirectory(prefix="denselab-bench-") as cache:
        env = {"DENSELAB_CACHE_DIR": cache}
        print("rock 10-fold CV", flush=True)
        r["rock_fleet_cold"] = measure("rock_fleet", q, env)
        r["rock_fleet_warm"] = measure("rock_fleet", q, env)
        r["rock_keras_fit"] = measure("rock_keras_fit", q)
        r["rock_sklearn_wrapper"] = measure("rock_sklearn_wrapper", q)
        r["rock_sklearn_mlp"] = measure("rock_sklearn_mlp", q)
        print("2-D f1, 32 members", flush=True)
        r["f1_fleet_cold"] = measure("f1_fleet", q, env)
        r["f1_fleet_warm"] = measure("f1_fleet", q, env)
        r["f1_fit"] = measure("f1_fit", q)
    load_end = os.getloadavg()[0]
    for x in r.values():  # quick runs time a part of the Keras loops: scale to the whole
        k = x.pop("scale", 1.0)
        x["scaled"] = k
        x["wall_s"] *= k
        x["cpu_s"] *= k

    print()
    print(f"{'approach':<34}{'wall s':>9}{'cpu s':>9}{'compile s':>11}{'import s':>10}{'accuracy':>10}")
    rows = [
        ("rock: Keras fit loop", "rock_keras_fit"),
        ("rock: SKLearnClassifier + cv", "rock_sklearn_wrapper"),
        ("rock: sklearn MLPClassifier", "rock_sklearn_mlp"),
        ("rock: fleet, cold cache", "rock_fleet_cold"),
        ("rock: fleet, warm cache", "rock_fleet_warm"),
        ("f1: 32 x model.fit", "f1_fit"),
        ("f1: fleet of 32, cold cache", "f1_fleet_cold"),
        ("f1: fleet of 32, warm cache", "f1_fleet_warm"),
    ]
    for label, key in rows:
        x = r[key]
        comp = f"{x['compile_s']:.2f}" if "compile_s" in x else "-"
        label += f" (x{x['scaled']:.3g})" if x["scaled"] != 1 else ""
        print(f"{label:<34}{x['wall_s']:>9.2f}{x['cpu_s']:>9.2f}{comp:>11}{x['import_s']:>10.2f}"
              f"{x['accuracy']:>10.3f}")
    for key in ("rock_fleet_cold", "rock_fleet_warm", "f1_fleet_cold"):
        t = r[key]["timings"]
        print(f"  {key}: setup {t['setup_s']:.3f} s, trace {t['trace_s']:.3f} s (export {t.get('export_s', 0):.3f}, "
              f"lower {t.get('lower_s', 0):.3f}), compile {t['compile_s']:.3f} s "
              f"(init {t['compile_init_s']:.3f}, chunk {t['compile_chunk_s']:.3f}, finish "
              f"{t['compile_finish_s']:.3f}), run {t['run_s']:.3f} s")
    print(f"load average at end: {load_end:.2f}")
    print()
    fit_wall = r["rock_keras_fit"]["wall_s"]
    print(f"speedup_vs_keras_fit_cold: {fit_wall / r['rock_fleet_cold']['wall_s']:.1f}")
    print(f"speedup_vs_keras_fit_warm: {fit_wall / r['rock_fleet_warm']['wall_s']:.1f}")
    print(f"speedup_vs_sklearn_wrapper_warm: {r['rock_sklearn_wrapper']['wall_s'] / r['rock_fleet_warm']['wall_s']:.1f}")
    print(f"speedup_vs_sklearn_mlp_warm: {r['rock_sklearn_mlp']['wall_s'] / r['rock_fleet_warm']['wall_s']:.1f}")
    print(f"compile_s: {r['rock_fleet_cold']['compile_s']:.2f}")
    print(f"f1_fleet_speedup_vs_fit: {r['f1_fit']['wall_s'] / r['f1_fleet_cold']['wall_s']:.1f}")
    print(f"f1_fleet_speedup_vs_fit_warm: {r['f1_fit']['wall_s'] / r['f1_fleet_warm']['wall_s']:.1f}")
    print(f"rock_accuracy_fleet: {r['rock_fleet_cold']['accuracy']:.3f}")
    print(f"rock_accuracy_keras_fit: {r['rock_keras_fit']['accuracy']:.3f}")


if __name__ == "__main__":
    main()
