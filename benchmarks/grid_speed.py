"""Time the 2-D study's full grid (2 000 configs × 3 folds on f1) with the fleet and with Keras `fit`.

The grid: optimizer {sgd, rmsprop, adagrad, adam, nadam} × hidden activation
{sigmoid, tanh, relu, elu} × output activation {sigmoid, tanh, relu, elu} × depth
{5, 10, 15, 20, 25} × dropout {0.1 … 0.5}, f1 with 4000 points, 3-fold CV, 50 epochs,
batch 32 (`denselab.studies.synthetic2d.FULL_GRID`, the study's own nets and losses).

Fleet path (the study's): one compiled program per structural config (optimizer,
activations, depth) with 3 folds × 5 dropout rates = 15 members. A random sample of
`--per-depth` structural configs per depth is timed end to end (data, members,
trace, compile, run) and the total is extrapolated per depth × 80 configs per depth.
Keras path: `--fit-per-depth` single `model.fit` trainings per depth (the reference
engine, compile included), extrapolated × 1 200 trainings per depth.

Prints `grid_minutes: N`, `fit_grid_minutes: N`, `grid_speedup: N` and the fraction timed.
Run with DENSELAB_CACHE_DIR="" for cold-compile numbers (the default uses the persistent
cache, which a second run of the same configs hits).

    python benchmarks/grid_speed.py --per-depth 2 --fit-per-depth 1
"""

from __future__ import annotations

import argparse
import random
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-depth", type=int, default=2, help="structural configs timed per depth (of 80)")
    parser.add_argument("--fit-per-depth", type=int, default=1, help="Keras fit trainings timed per depth (of 1200)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from denselab.data.prepare import load_dataset
    from denselab.studies import synthetic2d as s2d
    from denselab.train.evaluate import run_engine

    grid = s2d.FULL_GRID
    ds = load_dataset(s2d.data_spec("f1", 4000, args.seed), args.seed)
    rng = random.Random(args.seed)
    per_depth_configs = len(grid["optimizer"]) * len(grid["activation"]) * len(grid["output_activation"])
    trainings_per_depth = per_depth_configs * len(grid["dropout"]) * s2d.FOLDS

    fleet_total, fit_total, timed_fleet, timed_fit = 0.0, 0.0, 0, 0
    rows = []
    for depth in grid["depth"]:
        combos = list(__import__("itertools").product(grid["optimizer"], grid["activation"], grid["output_activation"]))
        picks = rng.sample(combos, args.per_depth)
        seconds = []
        for opt, act, out in picks:
            t = time.perf_counter()
            sub = {"optimizer": (opt,), "activation": (act,), "output_activation": (out,), "depth": (depth,),
                   "dropout": grid["dropout"]}
            table, _, _, timing = s2d.grid_search(sub, [("f1", ds)], args.epochs, args.seed)
            seconds.append(time.perf_counter() - t)
            rows.append(f"  fleet {opt}/{act}/{out}/depth {depth}: {seconds[-1]:.1f} s "
                        f"(compile {timing['compile_s'].sum():.1f}, run {timing['run_s'].sum():.1f}); "
                        f"best acc {table['accuracy_mean'].max():.3f}")
            print(rows[-1], flush=True)
        fleet_total += np.mean(seconds) * per_depth_configs
        timed_fleet += len(picks)

        fit_seconds = []
        for opt, act, out in rng.sample(combos, args.fit_per_depth):
            dropout = rng.choice(grid["dropout"])
            exp = s2d.experiment(s2d.base_model(act, depth, dropout, out), s2d.train_spec(opt, out, args.epochs),
                                 args.seed)
            head, members = s2d._cv_members(exp, [("f1", ds)], 1)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = run_engine(exp, head, members[:1], "fit", None)
            fit_seconds.append(time.perf_counter() - t)
            print(f"  fit   {opt}/{act}/{out}/depth {depth}/dropout {dropout}: {fit_seconds[-1]:.1f} s "
                  f"(acc {result.results[0].scores['accuracy']:.3f})", flush=True)
        fit_total += np.mean(fit_seconds) * trainings_per_depth
        timed_fit += len(fit_seconds)

    n_configs = per_depth_configs * len(grid["depth"])
    print(f"grid: {n_configs * len(grid['dropout'])} configs x {s2d.FOLDS} folds, f1 4000 points, "
          f"{args.epochs} epochs, batch {s2d.BATCH}")
    print(f"fleet fraction timed: {timed_fleet}/{n_configs} structural programs "
          f"({timed_fleet / n_configs:.1%}), extrapolated per depth")
    print(f"fit fraction timed: {timed_fit}/{n_configs * len(grid['dropout']) * s2d.FOLDS} trainings")
    print(f"grid_minutes: {fleet_total / 60:.1f}")
    print(f"fit_grid_minutes: {fit_total / 60:.1f}")
    print(f"grid_speedup: {fit_total / fleet_total:.1f}")


if __name__ == "__main__":
    main()
