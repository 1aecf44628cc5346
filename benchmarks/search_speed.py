"""One architecture search three ways: denselab's, KerasTuner's, and an Optuna loop over Keras `fit`.

The same 40-trial random search on the bundled `rocks` table (942 training rows of
the 10 major oxides, 5 rock types; the rows `denselab run rocks` trains on), each
trial scored by 5-fold stratified CV (scaler fitted per fold), over

    depth 1–4 hidden layers × units 8–128 (every layer) × dropout 0–0.5 after each ×
    learning rate 1e-4–3e-2 (log), Adam, batch 32, relu, 30 epochs (`--quick`: 10),

by (a) `denselab.search` (`model.depth`, `model.units`, `model.layer.dropout`,
`train.learning_rate` searched; the fleet packs the trials' networks into a few
programs), (b) KerasTuner's `RandomSearch` with `run_trial` overridden to run one
Keras `fit` per fold (the documented way to cross-validate in KerasTuner), (c) an
Optuna study whose objective runs one Keras `fit` per fold. Each approach runs in a
fresh Python process with an empty compilation cache, timed after its imports.

KerasTuner is not a denselab dependency: install it for this benchmark only
(`pip install keras-tuner six`); without it, (b) is skipped with a message.

Prints a table and `name: number` lines, and the load average (the machine may be
shared). `--quick` (5–8 minutes on 2 shared cores) trains 10 epochs and times 4 of the 40 trials for
(b) and (c), scaled to 40 (marked "est."); denselab always runs all 40 trials.

Usage:
    python benchmarks/search_speed.py [--quick]
"""

from __future__ import annotations

import os
import tempfile
import time

import _worker  # benchmarks/_worker.py: a measured side in a fresh process

START = time.perf_counter()
TRIALS = 40
FOLDS = 5
BATCH = 32
SPACE = {"depth": (1, 4), "units": (8, 128), "dropout": (0.0, 0.5), "learning_rate": (1e-4, 3e-2)}


def _epochs(quick: bool) -> int:
    return 10 if quick else 30


def _peer_trials(quick: bool) -> int:
    return 4 if quick else TRIALS


# --- workers (each runs in its own process) --------------------------------------------

def _data():
    """The rocks training rows and the 5 stratified folds every approach uses."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from denselab.data.prepare import load_dataset
    from denselab.spec import DataSpec

    ds = load_dataset(DataSpec(source="rocks"), 0)
    x, y = np.asarray(ds.x_train, np.float32), np.asarray(ds.y_train)
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y))
    return x, y, folds, ds.n_targets


def _keras_mlp(n_in, n_out, depth, units, dropout, learning_rate):
    import keras

    layers = [keras.Input(shape=(n_in,))]
    for _ in range(depth):
        layers += [keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(dropout)]
    model = keras.Sequential(layers + [keras.layers.Dense(n_out, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _cv_fit(x, y, folds, n_out, epochs, **hp) -> float:
    """Mean held-out accuracy of one configuration: one Keras `fit` per fold."""
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    scores = []
    for train, held in folds:
        scaler = StandardScaler().fit(x[train])
        model = _keras_mlp(x.shape[1], n_out, **hp)
        model.fit(scaler.transform(x[train]), y[train], epochs=epochs, batch_size=BATCH, verbose=0)
        scores.append(model.evaluate(scaler.transform(x[held]), y[held], verbose=0, return_dict=True)["accuracy"])
    return float(np.mean(scores))


def worker_denselab(quick):
    import denselab
    from denselab.train import fleet

    raw = {
        "name": "search-speed", "seed": 0,
        "data": {"source": "rocks"},
        "model": {"depth": {"low": SPACE["depth"][0], "high": SPACE["depth"][1]},
                  "units": {"low": SPACE["units"][0], "high": SPACE["units"][1]},
                  "layer": {"units": 32, "activation": "relu",
                            "dropout": {"low": SPACE["dropout"][0], "high": SPACE["dropout"][1]}}},
        "train": {"epochs": _epochs(quick), "batch_size": BATCH, "optimizer": "adam",
                  "learning_rate": {"low": SPACE["learning_rate"][0], "high": SPACE["learning_rate"][1],
                                    "log": True}},
        "evaluate": {"folds": FOLDS, "baselines": "none"},  # the peers score no baselines
        "search": {"sampler": "random", "trials": TRIALS, "batch": TRIALS},
    }
    calls, train = [], fleet.train_members

    def recorded(*args, **kwargs):  # the breakdown of each engine call (the search's and the refit's)
        out = train(*args, **kwargs)
        calls.append({"members": len(args[3]), **fleet.last_timings()})
        return out

    fleet.train_members = recorded
    with tempfile.TemporaryDirectory() as tmp:
        result = denselab.search(raw, storage=f"sqlite:///{tmp}/search.db", report=False)
    best = result.results["best"]["cv"]["mean"]
    return {"trials": TRIALS, "best_cv_accuracy": best, "programs": fleet.cache_info()["misses"],
            "calls": calls}


def worker_kerastuner(quick):
    try:
        import keras_tuner
    except ImportError:
        return {"missing": "keras-tuner is not installed: `pip install keras-tuner six` to time (b)"}
    x, y, folds, n_out = _data()
    epochs, trials = _epochs(quick), _peer_trials(quick)

    class CVTuner(keras_tuner.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            return {"val_accuracy": _cv_fit(
                x, y, folds, n_out, epochs, depth=hp.Int("depth", *SPACE["depth"]),
                units=hp.Int("units", *SPACE["units"]), dropout=hp.Float("dropout", *SPACE["dropout"]),
                learning_rate=hp.Float("learning_rate", *SPACE["learning_rate"], sampling="log"))}

    with tempfile.TemporaryDirectory() as tmp:
        tuner = CVTuner(objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=trials, seed=0,
                        directory=tmp, project_name="rocks", overwrite=True)
        tuner.search(verbose=0)
        best = tuner.oracle.get_best_trials(1)[0].score
    return {"trials": trials, "best_cv_accuracy": float(best)}


def worker_optuna_fit(quick):
    import optuna

    x, y, folds, n_out = _data()
    epochs, trials = _epochs(quick), _peer_trials(quick)

    def objective(trial):
        return _cv_fit(x, y, folds, n_out, epochs, depth=trial.suggest_int("depth", *SPACE["depth"]),
                       units=trial.suggest_int("units", *SPACE["units"]),
                       dropout=trial.suggest_float("dropout", *SPACE["dropout"]),
                       learning_rate=trial.suggest_float("learning_rate", *SPACE["learning_rate"], log=True))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return {"trials": trials, "best_cv_accuracy": float(study.best_value)}


def run_worker(name: str, quick: bool) -> None:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import denselab  # noqa: F401
    import keras  # noqa: F401
    import optuna  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    _worker.report(START, name, lambda: globals()[f"worker_{name}"](quick))


# --- the driver ---------------------------------------------------------------------------

def measure(name: str, quick: bool, env: dict | None = None) -> dict:
    return _worker.measure(__file__, name, quick, env, width=12)


def main() -> None:
    args = _worker.arguments(__doc__, "10 epochs; peers timed on 4 of the 40 trials")
    if args.worker:
        return run_worker(args.worker, args.quick)

    q = args.quick
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)", flush=True)
    print(f"{TRIALS}-trial random search, {FOLDS}-fold CV on rocks, {_epochs(q)} epochs", flush=True)
    r = {}
    for name in ("denselab", "kerastuner", "optuna_fit"):
        with tempfile.TemporaryDirectory(prefix="denselab-bench-") as cache:
            r[name] = measure(name, q, {"DENSELAB_CACHE_DIR": cache, "KERAS_HOME": cache})
    load_end = os.getloadavg()[0]

    def per_search(x):  # wall seconds for all 40 trials (peers scaled from the trials they ran)
        return x["wall_s"] * TRIALS / x["trials"]

    print()
    print(f"{'approach':<40}{'wall s (40 trials)':>20}{'cpu s':>9}{'best CV acc':>13}")
    labels = {"denselab": "denselab search (fleet, packed)", "kerastuner": "KerasTuner RandomSearch + fit/fold",
              "optuna_fit": "Optuna + Keras fit/fold"}
    for key, label in labels.items():
        x = r[key]
        if "missing" in x:
            print(f"{label:<40}{'(not installed)':>20}")
            continue
        est = " est." if x["trials"] < TRIALS else ""
        print(f"{label:<40}{per_search(x):>15.1f}{est:>5}{x['cpu_s']:>9.1f}{x['best_cv_accuracy']:>13.3f}")
    for t in r["denselab"]["calls"]:
        print(f"  denselab engine call, {t['members']} members: {t['programs']} programs ({t['packed']} packed), "
              f"trace {t['trace_s']:.2f} s, compile {t['compile_s']:.2f} s, run {t['run_s']:.2f} s")
    print(f"load average at end: {load_end:.2f}")
    print()
    ours = r["denselab"]["wall_s"]
    if "missing" not in r["kerastuner"]:
        print(f"search_speedup_vs_kerastuner: {per_search(r['kerastuner']) / ours:.1f}")
    print(f"search_speedup_vs_optuna_fit: {per_search(r['optuna_fit']) / ours:.1f}")
    # CPU seconds: the same ratios with the machine's other load taken out
    cpu = r["denselab"]["cpu_s"]
    if "missing" not in r["kerastuner"]:
        print(f"search_cpu_speedup_vs_kerastuner: {r['kerastuner']['cpu_s'] * TRIALS / r['kerastuner']['trials'] / cpu:.1f}")
    print(f"search_cpu_speedup_vs_optuna_fit: {r['optuna_fit']['cpu_s'] * TRIALS / r['optuna_fit']['trials'] / cpu:.1f}")
    print(f"programs_compiled: {r['denselab']['programs']}")
    print(f"load_average: {load_end:.2f}")


if __name__ == "__main__":
    main()
