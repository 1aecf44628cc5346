"""Trials per minute of one search with 1, 2 and 4 local workers on one PostgreSQL study.

The search: the 2-D study's f1 (2000 points), 5-fold CV of Dense(units, relu) →
Dense(20, relu) → sigmoid, Adam, 400 epochs, batch 32; a grid of 8 learning rates ×
3 widths (10, 20, 30) = 24 trials, asked 4 at a time (so a worker trains up to
4 trials × 5 folds = 20 members as one fleet). Each setting runs
`search(..., workers=K, report=False)` in a fresh process against a fresh database
on a private PostgreSQL server (`denselab.search.pgserver`), and once with SQLite and
one worker for comparison. The clock runs from the `search` call (after imports) to
its return: it includes starting the K − 1 worker processes (their imports, data,
compiled programs read from the cache) and the refit of the best configuration.

JAX's compilation cache is warmed first by an untimed run, so every timed process
reads compiled programs from disk (as a second machine's worker would after its first
study) instead of compiling. The machine may be shared: the load average and the
number of cores are printed, and the efficiency (speedup / K) is relative to one
worker on the same machine: with 2 cores, 4 workers cannot be more than 2× faster.

Ends with `name: number` lines: trials_per_min_1/2/4, trials_per_min_sqlite_1,
speedup_2/4, efficiency_2/4. `--quick`: 40 epochs and half the learning rates (12 trials).

Usage:
    python benchmarks/workers_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def spec(quick: bool) -> dict:
    rates = [0.001, 0.002, 0.004, 0.007, 0.01, 0.02, 0.04, 0.07]
    return {
        "name": "workers-scale", "seed": 0, "data": {"source": "f1", "n": 2000},
        "model": {"hidden": [{"units": 20, "activation": "relu"}, {"units": 20, "activation": "relu"}],
                  "output_activation": "sigmoid"},
        "train": {"optimizer": "adam", "epochs": 40 if quick else 400, "batch_size": 32},
        "evaluate": {"folds": 5},
        "search": {"sampler": "grid", "batch": 4, "space": {
            "train.learning_rate": rates[::2] if quick else rates, "model.hidden[0].units": [10, 20, 30]}},
    }


def one(quick: bool, storage: str, workers: int) -> dict:
    """One timed search in this process (run as a child of `main`)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from denselab.search import search

    raw = spec(quick)
    trials = len(raw["search"]["space"]["train.learning_rate"]) * 3
    started = time.perf_counter()
    cpu = time.process_time()
    result = search(raw, trials, storage=storage, report=False, workers=workers)
    wall = time.perf_counter() - started
    owners = {t.user_attrs["denselab_owner"]["pid"] for t in result.study.trials if t.state.name == "COMPLETE"}
    return {"workers": workers, "trials": result.results["trials"]["complete"], "wall_s": wall,
            "cpu_s_main": time.process_time() - cpu, "processes_that_finished_trials": len(owners),
            "engine_calls_main": result.engine_calls, "trials_per_min": 60 * trials / wall}


def _child(quick: bool, storage: str, workers: int) -> dict:
    cmd = [sys.executable, __file__, "--one", storage, str(workers)] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"run with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("STORAGE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.quick, args.one[0], int(args.one[1]))))
        return
    from denselab.search.pgserver import PgServer

    print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()}", flush=True)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, PgServer() as pg:
        _child(args.quick, f"sqlite:///{tmp}/warmup.db", 1)  # fills the compilation cache, untimed
        for workers in (1, 2, 4):
            rows[workers] = _child(args.quick, pg.create_database(f"scale_{workers}"), workers)
            print(json.dumps(rows[workers]), flush=True)
        rows["sqlite"] = _child(args.quick, f"sqlite:///{tmp}/scale.db", 1)
        print(json.dumps(rows["sqlite"]), flush=True)
    print(f"load average after: {os.getloadavg()}")
    print(f"{'setting':>12} {'trials':>7} {'wall s':>8} {'trials/min':>11} {'speedup':>8} {'efficiency':>11}")
    base = rows[1]["trials_per_min"]
    for key, row in rows.items():
        k = 1 if key == "sqlite" else key
        speed = row["trials_per_min"] / base
        name = "sqlite, 1" if key == "sqlite" else f"postgres, {key}"
        print(f"{name:>12} {row['trials']:>7} {row['wall_s']:>8.1f} {row['trials_per_min']:>11.1f} "
              f"{speed:>8.2f} {speed / k:>11.2f}")
    for k in (1, 2, 4):
        print(f"trials_per_min_{k}: {rows[k]['trials_per_min']:.1f}")
    print(f"trials_per_min_sqlite_1: {rows['sqlite']['trials_per_min']:.1f}")
    for k in (2, 4):
        print(f"speedup_{k}: {rows[k]['trials_per_min'] / base:.2f}")
        print(f"efficiency_{k}: {rows[k]['trials_per_min'] / base / k:.2f}")


if __name__ == "__main__":
    main()
