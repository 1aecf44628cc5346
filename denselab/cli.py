"""`denselab` command line: parse → one API call → print. No logic lives here.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 the machine
failed us (disk full, permissions; one line too), 3 a search or worker ended with fewer
finished trials than asked (configurations that failed for good), 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from contextlib import contextmanager

_STARTED = time.perf_counter()  # `run --timings` counts its imports from here


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if argv is None:  # the `denselab` command itself: the process ends next
        # Objects moved to the permanent generation are left out of the interpreter's last collections:
        # after a run those walk millions of JAX/Keras/pandas objects, 0.6 s measured on 2 cores (of ~8 s).
        # Refcounted objects are still freed and atexit handlers still run.
        gc.freeze()
    return code


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.error("no command given")
    except SystemExit as exc:  # --help exits 0; a usage error has been printed as one line
        return exc.code if isinstance(exc.code, int) else 2
    from denselab.errors import DenselabError

    try:
        return args.func(args) or 0
    except DenselabError as exc:
        sys.stderr.write(_error_line(exc))
        return 2
    except MemoryError as exc:  # a spec asked for more than the machine has
        sys.stderr.write(_error_line(f"out of memory ({exc or 'no detail'}); use a smaller network "
                                     "(model.hidden units), fewer members (evaluate.folds, evaluate.seeds) "
                                     "or fewer rows"))
        return 2
    except OSError as exc:  # disk full, permissions, a vanished file: the line says all a traceback would
        where = f" `{exc.filename}`" if exc.filename else ""
        sys.stderr.write(_error_line(f"{exc.strerror or exc}{where}; check the path, its permissions "
                                     "and the free disk space"))
        return 1
    except KeyboardInterrupt:
        print("denselab: interrupted", file=sys.stderr)
        return 130


def _error_line(message) -> str:
    """The one stderr line of every failure; a message that spans lines is folded onto one, and
    argparse's and the OS's messages lose URL passwords as ours do."""
    from denselab.errors import hide_passwords

    return "denselab: error: " + hide_passwords(" ".join(str(message).split())) + "\n"


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line `denselab: error: <what>; <fix>` (exit 2) like
    every other error, instead of a usage block; `--help` is unchanged. Subcommand parsers
    inherit the class."""

    def error(self, message: str):
        what = message.removeprefix("argument ")
        self.exit(2, _error_line(f"{what}; `{self.prog} --help` lists the arguments"))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="denselab", description="Test deep neural networks on real data.")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="cross-validate, test and report one spec")
    run.add_argument("spec", help="a YAML spec file or a bundled example name (see `denselab examples`)")
    _output_arguments(run, "runs/<name>-<timestamp>/", "train.epochs=5", "no progress bar")
    run.add_argument("--timings", action="store_true", help="print where the seconds went (imports, data, "
                     "cross-validation, refit, scoring, report) as one line on stderr")
    run.set_defaults(func=_run)

    search = sub.add_parser("search", help="search a spec's space (grid, random, TPE); report the best")
    search.add_argument("spec", help="a YAML spec with lists/ranges or a `search:` section, or a bundled example")
    search.add_argument("--trials", type=int, help="finished trials wanted in the study (default search.trials); "
                        "a re-run tops up to this number")
    _storage_argument(search)
    search.add_argument("--workers", type=int, default=1, help="processes on this machine (default 1); more "
                        "machines join with `denselab worker`")
    _output_arguments(search, "runs/<name>-search-<timestamp>/", "search.sampler=random", "no per-trial lines")
    search.set_defaults(func=_search)

    worker = sub.add_parser("worker", help="run trials of a search's study until it has enough (no report)")
    _study_arguments(worker)
    worker.add_argument("--trials", type=int, help="finished trials wanted (default: what the search recorded)")
    worker.add_argument("--engine", choices=["fleet", "fit"], help="training engine (default: fleet where it applies)")
    worker.add_argument("--quiet", action="store_true", help="no per-trial lines")
    worker.set_defaults(func=_worker)

    status = sub.add_parser("status", help="a search's progress: finished, running, failed, best so far")
    _study_arguments(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=_status)

    study = sub.add_parser("study", help="run a built-in study (rocks, workshop, synthetic2d, catalogue) or an "
                                         "analysis of your table (architectures, training, regularization, "
                                         "initializers, samples, noise, activations, losses, overview)")
    study.add_argument("name", help="the study or analysis")
    study.add_argument("--data", help="your own csv/xlsx instead of the study's default data")
    study.add_argument("--target", help="the column to predict in --data")
    study.add_argument("--spec", help="analyses: a spec whose data and network are the base")
    study.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="analyses: override a field of the base spec (repeatable)")
    study.add_argument("--quick", action="store_true", help="a reduced version that finishes in a minute or two")
    study.add_argument("--full", action="store_true",
                       help="synthetic2d only: the whole 2 000-point grid on all four functions "
                            "(64 min measured on 2 CPU cores)")
    study.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    study.add_argument("--out", help="report folder (default runs/<study>-<timestamp>/)")
    study.add_argument("--quiet", action="store_true", help="no progress bar")
    study.set_defaults(func=_study)

    datasets = sub.add_parser("datasets", help="list the built-in data sets")
    datasets.set_defaults(func=_datasets)

    examples = sub.add_parser("examples", help="list the bundled example specs")
    examples.set_defaults(func=_examples)

    serve = sub.add_parser("serve", help="a local web page to train networks live (prints its URL, opens nothing)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mb", type=float, default=20, help="largest accepted upload (default 20 MB)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="another host name the page may be opened under (requests naming any other are refused)")
    serve.set_defaults(func=_serve)

    dashboard = sub.add_parser("dashboard", help="optuna-dashboard on the search database (the `dashboard` extra)")
    _storage_argument(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    dashboard.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    dashboard.set_defaults(func=_dashboard)
    return parser


def _output_arguments(parser, default_out: str, example: str, quiet: str) -> None:
    """--out, --set, --engine, --quiet: the arguments `run` and `search` share."""
    parser.add_argument("--out", help=f"report folder (default {default_out})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a spec field, e.g. --set {example} (repeatable)")
    parser.add_argument("--engine", choices=["fleet", "fit"], help="training engine (default: fleet where it applies)")
    parser.add_argument("--quiet", action="store_true", help=quiet)


def _storage_argument(parser) -> None:
    parser.add_argument("--storage", help="SQLAlchemy URL of the study's database (default sqlite:///denselab.db)")


def _study_arguments(parser) -> None:
    """spec, --storage, --set: what finds a search's study for `worker` and `status`."""
    parser.add_argument("spec", help="the spec the search was started with")
    _storage_argument(parser)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="the same overrides the search was given (repeatable)")


def _trial_log(quiet: bool):
    """Per-trial lines to stderr, unless --quiet."""
    return None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))


def _run(args) -> int:
    from denselab.spec import load

    load(args.spec, args.set)  # a spec error answers before JAX and Keras are imported
    import denselab.workflow as api  # JAX, Keras, scikit-learn, pandas, matplotlib: the `import` of --timings

    imported = time.perf_counter()
    # The libraries' millions of import-time objects live as long as the process: kept out of the
    # collector's full passes, which otherwise walk them again during scoring and the report.
    gc.freeze()
    with _progress(args.quiet) as progress:
        result = _interruptible(lambda: api.run(args.spec, out=args.out, overrides=args.set, engine=args.engine,
                                                progress=progress))
    r = result.results
    cv = r["cv"]
    print(f"{result.experiment.name}: {cv['n']} CV members ({cv['engine']}), "
          f"{cv['metric']} {cv['mean']:.4f} ± {cv['std']:.4f} (95% CI {cv['ci95'][0]:.4f}–{cv['ci95'][1]:.4f}); "
          f"test {cv['metric']} {r['test'][cv['metric']]:.4f} on {r['test']['n']} rows")
    if r["predictions"]:
        for row, label in zip(r["predictions"]["rows"], r["predictions"]["predicted"]):
            print(f"  predict {row} → {label}")
    for note in cv["notes"]:
        print(f"  note: {note}")
    print(f"report: {result.out / 'report.html'}", flush=True)
    if args.timings:
        print(_timings_line(imported - _STARTED, result.timings, time.perf_counter() - _STARTED), file=sys.stderr)
    return 0


def _timings_line(import_s: float, phases: dict, total_s: float) -> str:
    """`timings: import 2.31 s, data 0.03 s, train 0.41 s (cv 0.27, refit 0.14), scoring 3.4 s, report 0.9 s,
    total 7.1 s`. Import: from the CLI module's import to `denselab.workflow`'s (argument parsing and the
    spec check included; modules imported later on first use, ~0.1 s, fall in their phase); total: since
    the CLI module was imported (the interpreter's own start, ~0.05 s, and its exit are not in it)."""
    def s(key):
        return phases.get(key, 0.0)

    return (f"timings: import {import_s:.2f} s, data {s('data_s'):.2f} s, train {s('cv_s') + s('refit_s'):.2f} s "
            f"(cv {s('cv_s'):.2f}, refit {s('refit_s'):.2f}), scoring {s('scoring_s'):.2f} s, "
            f"report {s('report_s'):.2f} s, total {total_s:.2f} s")


def _search(args) -> int:
    from denselab.search import search

    with _search_progress(args.quiet, args.spec, args.storage, args.set, _trial_log(args.quiet)) as log:
        result = _interruptible(lambda: search(args.spec, args.trials, storage=args.storage, out=args.out,
                                               overrides=args.set, engine=args.engine, log=log,
                                               workers=args.workers))
    b, t = result.best, result.results["trials"]
    metric = b["cv"]["metric"]
    test = f"; test {metric} {b['test'][metric]:.4f} on {b['test']['n']} rows" if b["test"] else ""
    print(f"{result.results['name']}: {t['complete']} trials complete ({t['new']} new, {t['engine_calls']} engine "
          f"calls) in {result.storage}; best trial {b['trial']}: CV {metric} {b['cv']['mean']:.4f} ± "
          f"{b['cv']['std']:.4f}{test}")
    print(f"  best params: {', '.join(f'{k}={v}' for k, v in b['params'].items())}")
    print(f"report: {result.out / 'report.html'}")
    return _short(t["complete"], t["wanted"])


def _short(complete: int, wanted: int) -> int:
    """Exit 3 when fewer trials finished than asked (configurations failed for good)."""
    if complete >= wanted:
        return 0
    print(f"  only {complete} of {wanted} trials finished: the others failed for good "
          "(`denselab status` and the report's trials table say why)")
    return 3


def _worker(args) -> int:
    from denselab.search import work

    log = _trial_log(args.quiet)
    r = _interruptible(lambda: work(args.spec, args.storage, trials=args.trials, overrides=args.set,
                                    engine=args.engine, log=log))
    print(f"{r.study}: {r.complete} of {r.wanted} trials complete in {r.storage} ({r.new_trials} by this worker, "
          f"{r.engine_calls} engine calls)")
    return _short(r.complete, r.wanted)


def _status(args) -> int:
    import json

    from denselab.search.status import render, status

    info = status(args.spec, args.storage, overrides=args.set)
    print(json.dumps(info, indent=1, default=str) if args.json else render(info))
    return 0


def _study(args) -> int:
    from denselab.studies import run_study

    with _progress(args.quiet) as progress:
        results = _interruptible(lambda: run_study(args.name, args.out, data=args.data, target=args.target,
                                                   quick=args.quick, full=args.full, seed=args.seed,
                                                   progress=progress, spec=args.spec, overrides=args.set))
    for name, rows in results.get("tables", {}).items():
        print(f"{name}: {len(rows)} rows")
    print(f"report: {results['out']}/report.html")
    return 0


def _datasets(args) -> int:
    from denselab.data.sources import describe

    for name, target, about in describe():
        print(f"{name:20s} target={target:10s} {about}")
    return 0


def _examples(args) -> int:
    from denselab.spec import example_names, read_yaml

    for name in example_names():
        print(f"{name:24s} {read_yaml(name).get('description', '')}")
    return 0



def _serve(args) -> int:
    from denselab.web import serve

    serve(host=args.host, port=args.port, upload_limit=int(args.max_upload_mb * 1024 * 1024),
          allow_hosts=args.allow_host)
    return 0


def _dashboard(args) -> int:
    from denselab.search.dashboard import serve

    serve(args.storage, host=args.host, port=args.port)
    return 0


def _bar(*extra):
    """A rich progress bar on stderr: phase, bar, count, `extra` columns, elapsed and ETA."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), *extra, TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=True)


@contextmanager
def _progress(quiet: bool):
    """progress(done, total, phase) drawing one bar per phase, with the engine's latest loss and
    metric (`denselab.progress.latest`); None when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import TextColumn

    from denselab.progress import describe, latest

    with _bar(TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
              TextColumn("{task.fields[logs]}")) as bar:
        tasks = {}

        def update(done, total, phase):
            unit = "epochs" if total > 1 else ""
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total, unit=unit, logs="")
            logs = {k: v for k, v in latest().items() if not k.startswith("val_")}  # training loss, metric
            bar.update(tasks[phase], completed=done, total=total, logs=describe(logs) if unit else "")

        yield update


@contextmanager
def _search_progress(quiet: bool, spec, storage, overrides, log):
    """A bar of trials done / wanted with the best so far and an ETA, read from the study every
    second (`search.status`: the database is the one truth, whichever worker finished a trial),
    and the per-trial lines printed above it. Yields the log callback to hand to the search."""
    if quiet or not sys.stderr.isatty():
        yield log
        return
    import threading

    from rich.progress import TextColumn

    from denselab.search.status import status

    stop = threading.Event()
    with _bar(TextColumn("{task.fields[done]}/{task.fields[wanted]} trials"), TextColumn("{task.fields[best]}")) as bar:
        task = bar.add_task("search", total=None, done=0, wanted="?", best="")  # until the study exists

        def poll():
            while not stop.wait(1.0):
                try:
                    info = status(spec, storage, overrides=overrides)
                except Exception:  # the study is not made yet, or the database is busy: next second
                    continue
                b = info["best"]
                done = info["finished"] >= info["wanted"]  # then the best is refit and the report written
                bar.update(task, completed=info["finished"], total=info["wanted"], done=info["finished"],
                           wanted=info["wanted"], description="refit of the best, report" if done else "search",
                           best=f"best so far {info['metric'] or 'value'} {b['value']:.4f} (trial {b['trial']})" if b else "")

        thread = threading.Thread(target=poll, name="denselab-search-bar", daemon=True)
        thread.start()
        try:
            yield lambda line: bar.console.print(line, highlight=False)
        finally:
            stop.set()


def _interruptible(call):
    """`call()` in a worker thread, so Ctrl-C is honoured within about a second even while a
    compiled training chunk runs (the main thread would only see the signal when XLA returns).

    On Ctrl-C the worker gets a KeyboardInterrupt at its next Python instruction, so a report
    being written removes its temporary folder as on any error; a worker still inside XLA
    after a second is training, which has written nothing, and the process exits (130).
    """
    import ctypes
    import os
    import threading

    box, done = {}, threading.Event()

    def target():
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the main thread, which reports it as usual
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name="denselab-main", daemon=True)
    worker.start()
    try:
        # an Event, not worker.join: a join cut by Ctrl-C marks a live thread stopped (CPython 3.11)
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(KeyboardInterrupt))
        done.wait(1.0)
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h\n")  # a bar cut short leaves the cursor hidden
        print("denselab: interrupted", file=sys.stderr, flush=True)
        os._exit(130)
    if "error" in box:
        raise box["error"]
    return box["value"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
