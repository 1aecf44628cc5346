"""`denselab` command line: parse → one API call → print. No logic lives here.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from denselab.errors import DenselabError

    try:
        return args.func(args) or 0
    except DenselabError as exc:
        print(f"denselab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("denselab: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="denselab", description="Test deep neural networks on real data.")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="cross-validate, test and report one spec")
    run.add_argument("spec", help="a YAML spec file or a bundled example name (see `denselab examples`)")
    _output_arguments(run, "runs/<name>-<timestamp>/", "train.epochs=5", "no progress bar")
    run.set_defaults(func=_run)

    search = sub.add_parser("search", help="search a spec's space (grid, random, TPE); report the best")
    search.add_argument("spec", help="a YAML spec with lists/ranges or a `search:` section, or a bundled example")
    search.add_argument("--trials", type=int, help="finished trials wanted in the study (default search.trials); "
                        "a re-run tops up to this number")
    search.add_argument("--storage", help="SQLAlchemy URL of the results database (default sqlite:///denselab.db)")
    _output_arguments(search, "runs/<name>-search-<timestamp>/", "search.sampler=random", "no per-trial lines")
    search.set_defaults(func=_search)

    study = sub.add_parser("study", help="run a built-in study (rocks, workshop, synthetic2d, catalogue)")
    study.add_argument("name", help="the study")
    study.add_argument("--data", help="your own csv/xlsx instead of the study's default data")
    study.add_argument("--target", help="the column to predict in --data")
    study.add_argument("--quick", action="store_true", help="a reduced version that finishes in a minute or two")
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
    serve.set_defaults(func=_serve)
    return parser


def _output_arguments(parser, default_out: str, example: str, quiet: str) -> None:
    """--out, --set, --engine, --quiet: the arguments `run` and `search` share."""
    parser.add_argument("--out", help=f"report folder (default {default_out})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a spec field, e.g. --set {example} (repeatable)")
    parser.add_argument("--engine", choices=["fleet", "fit"], help="training engine (default: fleet where it applies)")
    parser.add_argument("--quiet", action="store_true", help=quiet)


def _run(args) -> int:
    import denselab.workflow as api

    with _progress(args.quiet) as progress:
        result = api.run(args.spec, out=args.out, overrides=args.set, engine=args.engine, progress=progress)
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
    print(f"report: {result.out / 'report.html'}")
    return 0


def _search(args) -> int:
    from denselab.search import search

    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = search(args.spec, args.trials, storage=args.storage, out=args.out, overrides=args.set,
                    engine=args.engine, log=log)
    b, t = result.best, result.results["trials"]
    metric = b["cv"]["metric"]
    test = f"; test {metric} {b['test'][metric]:.4f} on {b['test']['n']} rows" if b["test"] else ""
    print(f"{result.results['name']}: {t['complete']} trials complete ({t['new']} new, {t['engine_calls']} engine "
          f"calls) in {result.storage}; best trial {b['trial']}: CV {metric} {b['cv']['mean']:.4f} ± "
          f"{b['cv']['std']:.4f}{test}")
    print(f"  best params: {', '.join(f'{k}={v}' for k, v in b['params'].items())}")
    print(f"report: {result.out / 'report.html'}")
    return 0


def _study(args) -> int:
    from denselab.studies import run_study

    with _progress(args.quiet) as progress:
        results = run_study(args.name, args.out, data=args.data, target=args.target, quick=args.quick,
                            seed=args.seed, progress=progress)
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

    serve(host=args.host, port=args.port, upload_limit=int(args.max_upload_mb * 1024 * 1024))
    return 0


@contextmanager
def _progress(quiet: bool):
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs"),
                  TimeElapsedColumn(), transient=True) as bar:
        tasks = {}

        def update(done, total, phase):
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
