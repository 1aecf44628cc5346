"""Run one measured side of a benchmark in a fresh process (cold caches, its own imports).

A benchmark script calls itself as `SCRIPT --worker NAME [--quick]`; the worker prints one
`RESULT {json}` line with at least `wall_s`, `cpu_s` and `import_s` (or `missing`, when a
peer is not installed), and `measure` prints a line for it and returns the dict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def measure(script: str, name: str, quick: bool, env: dict | None = None, width: int = 22) -> dict:
    cmd = [sys.executable, os.path.abspath(script), "--worker", name] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            if "missing" in result:
                print(f"  {name:<{width}} skipped: {result['missing']}", flush=True)
            else:
                trials = f"{result['trials']} trials  " if "trials" in result else ""
                print(f"  {name:<{width}} wall {result['wall_s']:7.2f} s  cpu {result['cpu_s']:7.2f} s  "
                      f"{trials}(imports {result['import_s']:.2f} s)", flush=True)
            return result
    raise RuntimeError(f"worker {name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def report(start: float, name: str, work) -> None:
    """The worker side: run `work()` (imports done since `start`), print its `RESULT` line."""
    import time

    imported, cpu = time.perf_counter(), time.process_time()
    out = work()
    out.update(name=name, import_s=imported - start, wall_s=time.perf_counter() - imported,
               cpu_s=time.process_time() - cpu)
    print("RESULT " + json.dumps(out), flush=True)


def arguments(doc: str, quick_help: str):
    """`--quick` and the hidden `--worker NAME` every benchmark takes."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()
