"""Start-up of the `denselab` command: wall time of the commands that should answer at once.

Each command runs in a fresh process (the installed `denselab` entry point, as a user
types it), `repeats` times; the median wall time is printed, with the time of a bare
`python -c pass` measured the same way (the floor no command can beat) and of
`python -c "import keras"` (what every command cost before it stopped importing JAX
and Keras up front). One `python -X importtime` run per command also says which of
JAX, Keras, matplotlib, scikit-learn and pandas it imported. The target is ≤ 0.5 s per command.

Then one command that does work, end to end: `denselab run iris --timings` (10-fold CV,
refit, scoring with baselines, report), once untimed to fill a fresh compile cache
(`DENSELAB_CACHE_DIR`, so the timed runs are warm) and `repeats` times timed; the median
wall time and, for that run, the CLI's own breakdown (imports, data, train, scoring,
report). The target is ≤ 2.5 s.

Ends with `name: number` lines: `<command>_s` per command, `python_s`, `keras_import_s`,
`<command>_vs_keras` (how many times faster than importing Keras), `run_iris_s` and
`run_iris_<phase>_s`. `--quick`: 3 repeats instead of 7.

Usage:
    python benchmarks/startup.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DENSELAB = str(Path(sys.executable).with_name("denselab"))
COMMANDS = {
    "help": ["--help"],
    "datasets": ["datasets"],
    "examples": ["examples"],
    "usage_error": ["runn", "iris"],  # a typo in the command: argparse's one line
    "bad_engine": ["run", "iris", "--engine", "jet"],
    "missing_spec": ["run", "no-such-spec.yaml"],
    "spec_error": ["run", "iris", "--set", "model.hidden[0].activation=rellu"],
}
WATCHED = ("jax", "keras", "matplotlib", "sklearn", "pandas")


def wall(argv: list[str], repeats: int) -> float:
    times = []
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def imported(args: list[str]) -> list[str]:
    """Which of WATCHED one `denselab ARGS` imports (python -X importtime on the CLI module)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "denselab.cli", *args], capture_output=True,
                       text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    names = {m.group(1) for m in re.finditer(r"\|\s+(\S+)\s*$", r.stderr, flags=re.M)}
    return [w for w in WATCHED if w in names]


def run_iris(repeats: int) -> tuple[float, dict]:
    """Median wall seconds of `denselab run iris --timings` (warm compile cache) and that run's phases."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="denselab-startup-") as tmp:
        env = {**os.environ, "MPLBACKEND": "Agg", "DENSELAB_CACHE_DIR": os.path.join(tmp, "cache")}
        for i in range(repeats + 1):  # the first run fills the cache
            started = time.perf_counter()
            r = subprocess.run([DENSELAB, "run", "iris", "--quiet", "--timings", "--out", os.path.join(tmp, f"run{i}")],
                               capture_output=True, text=True, env=env, check=True)
            seconds = time.perf_counter() - started
            line = next(x for x in r.stderr.splitlines() if x.startswith("timings: "))
            phases = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+) ([\d.]+) s", line)}
            if i:
                runs.append((seconds, phases))
    runs.sort(key=lambda run: run[0])
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    repeats = 3 if parser.parse_args().quick else 7
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, {repeats} repeats, median wall time")
    python_s = wall([sys.executable, "-c", "pass"], repeats)
    keras_s = wall([sys.executable, "-c", "import os; os.environ['KERAS_BACKEND'] = 'jax'; import keras"], repeats)
    results = {}
    for name, args in COMMANDS.items():
        results[name] = wall([DENSELAB, *args], repeats)
        print(f"  denselab {' '.join(args):45s} {results[name]:6.2f} s   imports: "
              f"{', '.join(imported(args)) or 'none of ' + '/'.join(WATCHED)}")
    print(f"  python -c pass {'':38s} {python_s:6.2f} s\n  python -c 'import keras' {'':28s} {keras_s:6.2f} s")
    print(f"load: {os.getloadavg()[0]:.2f}")
    run_s, phases = run_iris(repeats)
    print(f"  denselab run iris (warm cache) {'':22s} {run_s:6.2f} s   "
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
          + " (total: in the process, from the CLI module's import)")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    for name, seconds in results.items():
        print(f"{name}_s: {seconds:.3f}")
    print(f"python_s: {python_s:.3f}\nkeras_import_s: {keras_s:.3f}")
    for name, seconds in results.items():
        print(f"{name}_vs_keras: {keras_s / seconds:.1f}")
    print(f"run_iris_s: {run_s:.3f}")
    for name, seconds in phases.items():
        print(f"run_iris_{name}_s: {seconds:.3f}")


if __name__ == "__main__":
    main()
