"""Time the 2-D study's full grid (2 000 configs × 3 folds on f1) on the fleet and with Keras `fit`.

The grid: optimizer {sgd, rmsprop, adagrad, adam, nadam} × hidden activation
{sigmoid, tanh, relu, elu} × output activation {sigmoid, tanh, relu, elu} × depth
{5, 10, 15, 20, 25} × dropout {0.1 … 0.5}, f1 with 4000 points, 3-fold CV, 50 epochs,
batch 32 (`denselab.studies.s2d_grid.FULL_GRID`, the study's own nets and losses).

Fleet (`grid_minutes`, `s2d_grid.grid_search`, what `denselab study synthetic2d --full`
runs): one arm per grid point on one plan, `Plan.run` → `engine.split_hparams` makes every
point one structure (optimizer, hidden and output activation, loss, depth and dropout rate
are member data), so the grid is one fleet call; `_fleet_pack.plan` splits it into programs
by estimated seconds (for 50 epochs: one per (depth, hidden activation), 300 members each,
optimizers updated per group, output activation and loss selected per member) and the fleet
trains two at a time. `--full` runs the whole grid; otherwise `--per-depth` random
activations per depth are run together (with the default 2, two programs at once, as in the
full run), each timed end to end (members, compile, run) and extrapolated × 4 / per-depth
(with `--per-depth 1` one program runs alone, on one core: about twice the full run's share).
Keras path: `--fit-per-depth` single `model.fit` trainings per depth (the reference engine,
compile included), extrapolated × 1 200 per depth.
`--quick`: depths 5 and 15, one activation each, 10 epochs (a few minutes).

Until December 2026 the full grid had its own hand-written JAX program (`train/grid2d.py`,
commit 789c2d5); the last side-by-side runs, 300 members per program, cache warm for the
fleet (the hand-written program compiled in its time): one activation alone per depth, at
load 1.1–2.6, fleet 38.9 / 86.5 / 139.8 s against 39.0 / 97.9 / 141.6 s for depths 5 / 10 /
15; depth 25, sigmoid and elu two at a time, at load 0.8–1.9, fleet 268.8 s against 249.3 s
(mean accuracy 0.739 against 0.734). It retired: one engine, one set of exactness tests.

Prints `grid_minutes: N`, `fit_grid_minutes: N`, `grid_speedup: N` (fit / fleet), the
fraction timed and the load average with every timing (timings on a shared machine are only
as good as it). Run with DENSELAB_CACHE_DIR="" for cold-compile numbers (the default uses
the persistent cache, which a second run of the same programs hits).

    python benchmarks/grid_speed.py --full --fit-per-depth 1
    python benchmarks/grid_speed.py --per-depth 2 --fit-per-depth 1
    python benchmarks/grid_speed.py --quick
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


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="run the whole grid on both paths and measure it")
    parser.add_argument("--quick", action="store_true", help="depths 5 and 15, one activation each, 10 epochs")
    parser.add_argument("--per-depth", type=int, default=2,
                        help="without --full: activations (of 4) per depth, all optimizers, outputs and dropouts")
    parser.add_argument("--fit-per-depth", type=int, default=1, help="Keras fit trainings timed per depth (of 1200)")
    parser.add_argument("--epochs", type=int, default=None, help="default 50 (10 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from denselab.data.prepare import load_dataset
    from denselab.studies import s2d_grid as s2d  # the 2-D study's nets and grid (synthetic2d re-exports it)
    from denselab.train import fleet
    from denselab.train.plan import run_engine

    grid = dict(s2d.FULL_GRID)
    epochs = args.epochs or (10 if args.quick else s2d.EPOCHS)
    if args.quick:
        grid["depth"], args.per_depth = (5, 15), 1
    ds = load_dataset(s2d.data_spec("f1", 4000, args.seed), args.seed)
    rng = random.Random(args.seed)
    acts_all = grid["activation"]
    per_depth_configs = len(grid["optimizer"]) * len(acts_all) * len(grid["output_activation"])
    trainings_per_depth = per_depth_configs * len(grid["dropout"]) * s2d.FOLDS
    n_configs = per_depth_configs * len(grid["depth"])
    print(f"load average at start: {_load()}", flush=True)

    def timed(sub: dict, label: str):
        """(table, seconds) of one sub-grid on the fleet."""
        t = time.perf_counter()
        table, _, _, _ = s2d.grid_search(sub, [("f1", ds)], epochs, args.seed)
        seconds = time.perf_counter() - t
        timings = fleet.last_timings()
        print(f"  fleet {label}: {seconds:.1f} s ({timings['programs']} programs, {timings['packed']} packed; "
              f"trace {timings['trace_s']:.1f}, compile {timings['compile_s']:.1f}, run summed over programs "
              f"{timings['run_s']:.1f}) (load {_load()})", flush=True)
        return table, seconds

    if args.full:
        table, total = timed(grid, "full grid")
        note = f"full grid, {len(grid['depth']) * len(acts_all)} (depth, activation) programs, measured"
        acts_by_depth = {depth: list(acts_all) for depth in grid["depth"]}
    else:
        tables, total, acts_by_depth = [], 0.0, {}
        for depth in grid["depth"]:
            acts = rng.sample(list(acts_all), args.per_depth)
            sub = {**grid, "activation": tuple(acts), "depth": (depth,)}
            table, seconds = timed(sub, f"{'+'.join(acts)}/depth {depth}")
            total += seconds * len(acts_all) / args.per_depth
            tables.append(table)
            acts_by_depth[depth] = acts
        table = pd.concat(tables)
        note = f"{args.per_depth * len(grid['depth'])}/{len(grid['depth']) * len(acts_all)} (depth, activation) " \
               f"programs, extrapolated per depth"
    print(f"load average after the grid: {_load()}", flush=True)

    fit_total, timed_fit = 0.0, 0
    for depth in grid["depth"]:
        combos = list(itertools.product(grid["optimizer"], acts_by_depth[depth], grid["output_activation"]))
        fit_seconds = []
        for opt, act, out in rng.sample(combos, min(args.fit_per_depth, len(combos))):
            dropout = rng.choice(grid["dropout"])
            exp = s2d.experiment(s2d.base_model(act, depth, dropout, out), s2d.train_spec(opt, out, epochs), args.seed)
            head, members = s2d._cv_members(exp, [("f1", ds)], 1)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = run_engine(exp, head, members[:1], "fit", None)
            fit_seconds.append(time.perf_counter() - t)
            print(f"  fit   {opt}/{act}/{out}/depth {depth}/dropout {dropout}: {fit_seconds[-1]:.1f} s "
                  f"(acc {result.results[0].scores['accuracy']:.3f}) (load {_load()})", flush=True)
        if fit_seconds:
            fit_total += np.mean(fit_seconds) * trainings_per_depth
            timed_fit += len(fit_seconds)

    print(f"grid: {n_configs * len(grid['dropout'])} configs x {s2d.FOLDS} folds, f1 4000 points, "
          f"{epochs} epochs, batch {s2d.BATCH}{' (--quick: depths ' + str(grid['depth']) + ')' if args.quick else ''}")
    print(f"timed: {note}; fit {timed_fit}/{n_configs * len(grid['dropout']) * s2d.FOLDS} trainings")
    print(f"fleet accuracy: mean {table['accuracy_mean'].mean():.4f} over {len(table)} configs, "
          f"best {table['accuracy_mean'].max():.4f}")
    print(f"load average at end: {_load()}")
    print(f"grid_minutes: {total / 60:.1f}")
    if timed_fit:
        print(f"fit_grid_minutes: {fit_total / 60:.1f}")
        print(f"grid_speedup: {fit_total / total:.1f}")


if __name__ == "__main__":
    main()
