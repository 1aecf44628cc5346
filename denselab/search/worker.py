"""Workers: processes on one machine or many, finishing one study's trials together.

`denselab search SPEC --storage URL --trials N` records N in the study; any number of
`denselab worker SPEC --storage URL` (the same spec, on any machine that reaches the
database) pull trials from it until N are COMPLETE, then stop by themselves. A worker
never writes a report and never refits, so it needs no output folder: the search
command does both at the end, from the database. `search(..., workers=K)` starts K − 1
workers on this machine as child processes; they get the spec and the URL on stdin,
so a password never shows in the process list.

A trial's numbers do not depend on the worker that ran it: its member seeds come from
the spec's seed, the seed repetition and the fold (`plan.py`), and random/TPE draw
trial n's params from (seed, n) (`space.py`). The loop, the study lock and recovery
are shared with `search` (`loop.loop`).

Example:
    >>> from denselab.search import work                                           # doctest: +SKIP
    >>> work("iris-search", "postgresql://ann:pw@db/studies").complete                # doctest: +SKIP
    20
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

from denselab.errors import DenselabError
from denselab.search import loop, store
from denselab.search.space import parse

@dataclass
class WorkResult:
    """What one worker saw when it stopped."""

    study: str
    storage: str  # masked
    wanted: int
    complete: int  # COMPLETE trials in the study (all workers)
    new_trials: int  # finished by this worker
    engine_calls: int
    stopped: str  # `done`, or `exhausted` (a grid whose remaining points failed for good)


def work(spec, storage: str | None = None, *, trials: int | None = None, overrides: list[str] | None = None,
         engine: str | None = None, log: Callable[[str], None] | None = None) -> WorkResult:
    """Run trials of the spec's study until enough are COMPLETE; no report, no refit.

    Args:
        spec: the same spec `search` was given (path, example name or raw dict).
        storage: the study's SQLAlchemy URL (default `sqlite:///denselab.db`).
        trials: COMPLETE trials wanted; default: what `search` recorded in the study
            (read every round, so raising it there reaches running workers), else
            `search.trials`.
        overrides, engine, log: as for `search`.
    """
    from optuna.trial import TrialState

    log = log or (lambda message: None)
    raw = loop.raw_spec(spec, overrides)
    space = parse(raw)
    fixed = None if trials is None else loop.wanted_trials(space, trials, log)
    ctx = loop.open_search(space, storage, engine, log)

    def wanted() -> int:
        if fixed is not None:
            return fixed
        target = ctx.study.user_attrs.get(loop.TARGET_ATTR)
        return loop.wanted_trials(space, target if isinstance(target, int) else None, lambda message: None)

    stopped = loop.loop(ctx, wanted)
    complete = len(ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return WorkResult(study=space.base.name, storage=store.mask_url(ctx.url), wanted=wanted(), complete=complete,
                      new_trials=ctx.new, engine_calls=ctx.calls, stopped=stopped)


@contextlib.contextmanager
def local_workers(raw: dict, url: str, engine: str | None, count: int, trials: int, log=None):
    """Run `count` workers as child processes for the duration of the block.

    The block runs this process's own loop, which returns once the study has `trials`
    COMPLETE trials (or nothing is left to try); then the workers are
    stopped at once, since a late starter would only find the study done. Leaving the
    block by an error or Ctrl-C stops them too (SIGTERM: each fails its batch and
    enqueues it again).
    """
    procs = []
    try:
        for i in range(count):
            payload = {"spec": raw, "storage": url, "engine": engine, "trials": trials,
                       "tag": i + 2, "verbose": log is not None}
            proc = subprocess.Popen([sys.executable, "-c", "import sys; from denselab.search.worker import main; "
                                     "sys.exit(main())"], stdin=subprocess.PIPE)
            procs.append(proc)
            proc.stdin.write(pickle.dumps(payload))
            proc.stdin.close()
        yield procs
    finally:  # the block's loop ended: the study is done (or failed), nothing is left for them
        codes = _stop(procs)
    for i, code in enumerate(codes, start=2):
        if code not in (0, 3, 130, -signal.SIGTERM) and log:
            log(f"worker {i} exited with code {code}; the study kept every trial it finished")


def _stop(procs: list) -> list:
    """SIGTERM (a worker gives its batch back), SIGKILL after 30 s; the exit codes."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [proc.returncode for proc in procs]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    """A child worker of `local_workers`: the payload comes pickled on stdin (from our own parent)."""
    payload = pickle.load(sys.stdin.buffer)
    signal.signal(signal.SIGTERM, _interrupt)
    tag = payload["tag"]

    def say(line: str) -> None:
        print(f"[worker {tag}] {line}", file=sys.stderr, flush=True)

    try:
        result = work(payload["spec"], payload["storage"], trials=payload["trials"], engine=payload["engine"],
                      log=say if payload["verbose"] else None)
    except DenselabError as exc:
        say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if result.complete >= result.wanted else 3  # as `denselab worker`
