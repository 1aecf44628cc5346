"""Start-up of the `denselab` command: wall time of the commands that should answer at once.

Each command runs in a fresh process (the installed `denselab` entry point, as a user
types it), `repeats` times; the median wall time is printed, with the time of a bare
`python -c pass` measured the same way (the floor no command can beat) and of
`python -c "import keras"` (what every command cost before it stopped importing JAX
and Keras up front). One `python -X importtime` run per command also says which of
JAX, Keras, matplotlib, scikit-learn and pandas it imported. The target is ≤ 0.5 s per command.

Ends with `name: number` lines: `<command>_s` per command, `python_s`, `keras_import_s`,
and `<command>_vs_keras` (how many times faster than importing Keras). `--quick`: 3
repeats instead of 7.

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
    print(f"load after: {os.getloadavg()[0]:.2f}")
    for name, seconds in results.items():
        print(f"{name}_s: {seconds:.3f}")
    print(f"python_s: {python_s:.3f}\nkeras_import_s: {keras_s:.3f}")
    for name, seconds in results.items():
        print(f"{name}_vs_keras: {keras_s / seconds:.1f}")


if __name__ == "__main__":
    main()
