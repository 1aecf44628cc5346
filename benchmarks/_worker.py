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
