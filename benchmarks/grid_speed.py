"""Time the 2-D study's full grid (2 000 configs × 3 folds on f1) with the fleet and with Keras `fit`.

The grid: optimizer {sgd, rmsprop, adagrad, adam, nadam} × hidden activation
{sigmoid, tanh, relu, elu} × output activation {sigmoid, tanh, relu, elu} × depth
{5, 10, 15, 20, 25} × dropout {0.1 … 0.5}, f1 with 4000 points, 3-fold CV, 50 epochs,
batch 32 (`denselab.studies.synthetic2d.FULL_GRID`, the study's own nets and losses).

Fused path (`grid_minutes`, `denselab.train.grid2d`): one program per (depth, activation,
optimizer), 4 output activations × 5 dropout rates × 3 folds = 60 members; `--per-depth`
random (optimizer, activation) pairs per depth are timed end to end (scaling, compile,
run) and extrapolated × 20 programs per depth. Fleet path (`fleet_grid_minutes`, the
Keras-stateless fleet): one program per structural config with 3 folds × 5 dropout
rates = 15 members; `--fleet-outputs` of the same pair's output activations are timed
and extrapolated × 80 configs per depth; their accuracies are printed next to the
fused path's, config by config.
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
    parser.add_argument("--per-depth", type=int, default=1,
                        help="(optimizer, activation) pairs timed per depth (of 20): fused with all outputs")
    parser.add_argument("--fleet-outputs", type=int, default=2,
                        help="output activations of each pair also run per-config on the fleet (sigmoid first)")
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

    import itertools

    fleet_total, fused_total, fit_total, timed_fleet, timed_fused, timed_fit = 0.0, 0.0, 0.0, 0, 0, 0
    pairs = []  # (fleet accuracy_mean, fused accuracy_mean) of the same config
    n_programs_fused = len(grid["depth"]) * len(grid["activation"]) * len(grid["optimizer"])
    for depth in grid["depth"]:
        for opt, act in rng.sample(list(itertools.product(grid["optimizer"], grid["activation"])), args.per_depth):
            t = time.perf_counter()
            sub = {"optimizer": (opt,), "activation": (act,), "output_activation": grid["output_activation"],
                   "depth": (depth,), "dropout": grid["dropout"]}
            fused, _, _ = s2d.grid_search_fused(sub, [("f1", ds)], args.epochs, args.seed)
            fused_s = time.perf_counter() - t
            fused_total += fused_s * n_programs_fused / len(grid["depth"]) / args.per_depth
            timed_fused += 1
            outs = ["sigmoid"] + rng.sample([o for o in grid["output_activation"] if o != "sigmoid"],
                                            args.fleet_outputs - 1)
            seconds = []
            for out in outs:
                t = time.perf_counter()
                table, _, _, timing = s2d.grid_search({**sub, "output_activation": (out,)}, [("f1", ds)],
                                                      args.epochs, args.seed)
                seconds.append(time.perf_counter() - t)
                timed_fleet += 1
                mine = fused[fused["output_activation"] == out].set_index("dropout")["accuracy_mean"]
                theirs = table.set_index("dropout")["accuracy_mean"]
                pairs += list(zip(theirs.loc[mine.index], mine))
                print(f"  fleet {opt}/{act}/{out}/depth {depth}: {seconds[-1]:.1f} s (compile "
                      f"{timing['compile_s'].sum():.1f}); acc by dropout {np.round(theirs.to_numpy(), 3).tolist()}; "
                      f"fused {np.round(mine.to_numpy(), 3).tolist()}", flush=True)
            print(f"  fused {opt}/{act}/all outputs/depth {depth}: {fused_s:.1f} s", flush=True)
            fleet_total += np.mean(seconds) * per_depth_configs / args.per_depth

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
        fit_total += np.mean(fit_seconds) * trainings_per_depth
        timed_fit += len(fit_seconds)

    n_configs = per_depth_configs * len(grid["depth"])
    pairs = np.asarray(pairs)
    print(f"grid: {n_configs * len(grid['dropout'])} configs x {s2d.FOLDS} folds, f1 4000 points, "
          f"{args.epochs} epochs, batch {s2d.BATCH}")
    print(f"fused fraction timed: {timed_fused}/{n_programs_fused} programs of "
          f"{len(grid['output_activation']) * len(grid['dropout']) * s2d.FOLDS} members, extrapolated per depth")
    print(f"fleet (per-config) fraction timed: {timed_fleet}/{n_configs} structural programs of "
          f"{len(grid['dropout']) * s2d.FOLDS} members, extrapolated per depth")
    print(f"fit fraction timed: {timed_fit}/{n_configs * len(grid['dropout']) * s2d.FOLDS} trainings")
    print(f"accuracy fleet vs fused on {len(pairs)} shared configs: mean {pairs[:, 0].mean():.4f} vs "
          f"{pairs[:, 1].mean():.4f}; mean |diff| {np.abs(pairs[:, 0] - pairs[:, 1]).mean():.4f}")
    print(f"fleet_grid_minutes: {fleet_total / 60:.1f}")
    print(f"fit_grid_minutes: {fit_total / 60:.1f}")
    print(f"grid_minutes: {fused_total / 60:.1f}")
    print(f"grid_speedup: {fit_total / fused_total:.1f}")


if __name__ == "__main__":
    main()
