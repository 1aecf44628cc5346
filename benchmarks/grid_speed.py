"""Time the 2-D study's full grid (2 000 configs × 3 folds on f1) fused, with the fleet and with Keras `fit`.

The grid: optimizer {sgd, rmsprop, adagrad, adam, nadam} × hidden activation
{sigmoid, tanh, relu, elu} × output activation {sigmoid, tanh, relu, elu} × depth
{5, 10, 15, 20, 25} × dropout {0.1 … 0.5}, f1 with 4000 points, 3-fold CV, 50 epochs,
batch 32 (`denselab.studies.synthetic2d.FULL_GRID`, the study's own nets and losses).

Fused path (`grid_minutes`, `synthetic2d.grid_search_fused` on `denselab.train.grid2d`):
one program per (depth, activation) of 5 optimizers × 4 output activations × 5 dropout
rates × 3 folds = 300 members, two programs at a time. `--full` runs the whole grid and
measures it; otherwise `--per-depth` random activations per depth are run together (so
as in the full run, two at once) and timed end to end (scaling, compile, run), then
extrapolated × 4 / per-depth.
Fleet path (`fleet_grid_minutes`, the Keras-stateless fleet): one program per structural
config with 3 folds × 5 dropout rates = 15 members; `--fleet-configs` random (optimizer,
activation, output) configs per depth among those fused (the first with a sigmoid
output) are timed and extrapolated × 80 configs per depth, and their accuracies are
printed next to the fused path's, dropout by dropout.
Keras path: `--fit-per-depth` single `model.fit` trainings per depth (the reference
engine, compile included), extrapolated × 1 200 trainings per depth.

Prints `grid_minutes: N`, `fit_grid_minutes: N`, `grid_speedup: N`, the fraction timed
and the machine's load average (timings on a shared machine are only as good as it).
Run with DENSELAB_CACHE_DIR="" for cold-compile numbers (the default uses the persistent
cache, which a second run of the same configs hits).

    python benchmarks/grid_speed.py --full --fit-per-depth 1
    python benchmarks/grid_speed.py --per-depth 2 --fit-per-depth 1
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="run the whole fused grid and measure it")
    parser.add_argument("--per-depth", type=int, default=2,
                        help="without --full: activations (of 4) fused per depth, all optimizers and outputs")
    parser.add_argument("--fleet-configs", type=int, default=1,
                        help="structural configs per depth also run per config on the fleet (0: none)")
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
    n_configs = per_depth_configs * len(grid["depth"])
    n_programs = len(grid["depth"]) * len(grid["activation"])
    print(f"load average at start: {_load()}", flush=True)

    if args.full:
        t = time.perf_counter()
        fused, _, timings = s2d.grid_search_fused(grid, [("f1", ds)], args.epochs, args.seed)
        fused_total = time.perf_counter() - t
        fused_note = f"full grid, {n_programs} programs, measured"
        for depth, sub in timings.groupby("depth"):
            print(f"  fused depth {depth}: {sub['seconds'].sum():.0f} program-seconds (two run at once)", flush=True)
        acts_by_depth = {depth: list(grid["activation"]) for depth in grid["depth"]}
    else:
        tables, fused_total, acts_by_depth = [], 0.0, {}
        for depth in grid["depth"]:
            acts = rng.sample(list(grid["activation"]), args.per_depth)
            t = time.perf_counter()
            table, _, _ = s2d.grid_search_fused({**grid, "activation": tuple(acts), "depth": (depth,)}, [("f1", ds)],
                                                args.epochs, args.seed)
            seconds = time.perf_counter() - t
            fused_total += seconds * len(grid["activation"]) / args.per_depth
            tables.append(table)
            acts_by_depth[depth] = acts
            print(f"  fused {'+'.join(acts)}/depth {depth}: {seconds:.1f} s (load {_load()})", flush=True)
        fused = pd.concat(tables)
        fused_note = f"{args.per_depth * len(grid['depth'])}/{n_programs} programs, extrapolated per depth"
    print(f"load average after the fused grid: {_load()}", flush=True)

    fleet_total, timed_fleet, pairs = 0.0, 0, []  # pairs: (structural config, fleet accuracy_mean, fused accuracy_mean)
    fit_total, timed_fit = 0.0, 0
    for depth in grid["depth"]:
        seconds = []
        for i in range(args.fleet_configs):
            opt, act = rng.choice(grid["optimizer"]), rng.choice(acts_by_depth[depth])
            out = "sigmoid" if i == 0 else rng.choice(grid["output_activation"])
            t = time.perf_counter()
            table, _, _, timing = s2d.grid_search({"optimizer": (opt,), "activation": (act,), "output_activation": (out,),
                                                   "depth": (depth,), "dropout": grid["dropout"]}, [("f1", ds)],
                                                  args.epochs, args.seed)
            seconds.append(time.perf_counter() - t)
            timed_fleet += 1
            mine = fused[(fused["optimizer"] == opt) & (fused["activation"] == act) & (fused["output_activation"] == out)
                         & (fused["depth"] == depth)].set_index("dropout")["accuracy_mean"]
            theirs = table.set_index("dropout")["accuracy_mean"].loc[mine.index]
            pairs += [(timed_fleet, a, b) for a, b in zip(theirs, mine)]
            print(f"  fleet {opt}/{act}/{out}/depth {depth}: {seconds[-1]:.1f} s (compile "
                  f"{timing['compile_s'].sum():.1f}); acc by dropout {np.round(theirs.to_numpy(), 3).tolist()}; "
                  f"fused {np.round(mine.to_numpy(), 3).tolist()}", flush=True)
        if seconds:
            fleet_total += np.mean(seconds) * per_depth_configs

        combos = list(itertools.product(grid["optimizer"], grid["activation"], grid["output_activation"]))
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
        if fit_seconds:
            fit_total += np.mean(fit_seconds) * trainings_per_depth
            timed_fit += len(fit_seconds)

    print(f"grid: {n_configs * len(grid['dropout'])} configs x {s2d.FOLDS} folds, f1 4000 points, "
          f"{args.epochs} epochs, batch {s2d.BATCH}")
    print(f"fused: {fused_note}; programs of "
          f"{len(grid['optimizer']) * len(grid['output_activation']) * len(grid['dropout']) * s2d.FOLDS} members")
    print(f"fleet (per-config) fraction timed: {timed_fleet}/{n_configs} structural programs of "
          f"{len(grid['dropout']) * s2d.FOLDS} members, extrapolated per depth")
    print(f"fit fraction timed: {timed_fit}/{n_configs * len(grid['dropout']) * s2d.FOLDS} trainings")
    if pairs:
        pairs = pd.DataFrame(pairs, columns=["config", "fleet", "fused"])
        # A structural config's dropout rates share initial weights and draws, so they are not
        # independent: the CI is over structural configs (their mean difference), not over rates.
        per_config = (pairs["fleet"] - pairs["fused"]).groupby(pairs["config"]).mean().to_numpy()
        n = len(per_config)
        half = stats.t.ppf(0.975, n - 1) * per_config.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        # Same math (tests/test_grid2d.py), different random streams: expect a mean difference near 0
        # and per-config gaps where a config's folds fall either way (dead relu output or not).
        diff = (pairs["fleet"] - pairs["fused"]).to_numpy()
        print(f"accuracy fleet vs fused on {len(pairs)} shared configs: mean {pairs['fleet'].mean():.4f} vs "
              f"{pairs['fused'].mean():.4f}; fleet - fused {diff.mean():+.4f} (95 % CI ±{half:.4f} over {n} "
              f"structural configs); mean |diff| {np.abs(diff).mean():.4f}")
    print(f"load average at end: {_load()}")
    if timed_fleet:
        print(f"fleet_grid_minutes: {fleet_total / 60:.1f}")
    if timed_fit:
        print(f"fit_grid_minutes: {fit_total / 60:.1f}")
    print(f"grid_minutes: {fused_total / 60:.1f}")
    if timed_fit:
        print(f"grid_speedup: {fit_total / fused_total:.1f}")


if __name__ == "__main__":
    main()
