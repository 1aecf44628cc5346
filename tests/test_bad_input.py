"""Bad input, everywhere: a corpus of broken files, specs and command lines run through the
real CLI. Each must give exit code 2 and ONE stderr line `denselab: error: <field>: … ; <fix>`,
no traceback, and leave nothing behind (no report folder, no partial folder, no database).

Most cases fail before any training, so the corpus runs in-process (`cli.main`) in a few
seconds; a few go through a subprocess to prove the real exit code, and the write-failure
cases train tiny iris nets (one epoch, two folds).
"""

from __future__ import annotations

import errno
import io
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from denselab.cli import main
from denselab.errors import DenselabError
from denselab.report.html import Section, write_report

QUICK = ["--set", "train.epochs=1", "--set", "evaluate.folds=2", "--quiet"]


def _rows(n=40, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x0": rng.normal(size=n).round(3), "x1": rng.normal(size=n).round(3),
                         "y": np.where(np.arange(n) % 2, "p", "q")})


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _files() -> dict[str, bytes | str]:
    """name → content of every broken data file and spec of the corpus."""
    good = _rows()
    nan, inf, huge, one_class = good.copy(), good.copy(), good.copy(), good.copy()
    nan.loc[3, "x0"] = np.nan
    inf.loc[5, "x1"] = np.inf
    huge.loc[7, "x1"] = 1e39
    one_class["y"] = "p"
    ids = good.assign(sample=[f"S-{i:03d}" for i in range(len(good))])
    singleton = good.copy()
    singleton.loc[0, "y"] = "r"
    stray = good.astype({"x1": object})
    stray.loc[[4, 17], "x1"] = "?"
    stray.loc[30, "x1"] = "n.a."
    free_text = good.assign(note=[f"word{i % 30}" for i in range(len(good))])
    bomb = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(9))
    return {
        # data files
        "good.csv": _csv(good),
        "good.xlsx": _xlsx(good, "Data"),
        "empty.csv": b"",
        "blank.csv": "\n \n\t\n",
        "binary.csv": bytes(range(256)) * 8,
        "ragged.csv": "x0,x1,y\n1,2,p\n3,4,q,5,6\n7,8,p\n",
        "utf16.csv": _csv(good).encode("utf-16-le"),  # no byte-order mark: unreadable as text
        "nan.csv": _csv(nan),
        "inf.csv": _csv(inf),
        "huge.csv": _csv(huge),
        "duplicate-columns.csv": _csv(good).replace("x0,x1,y", "x0,x0,y", 1),
        "one-class.csv": _csv(one_class),
        "few-rows.csv": _csv(good.head(6)),
        "singleton-class.csv": _csv(singleton),
        "ids.csv": _csv(ids),
        "header-only.csv": "x0,x1,y\n",
        "csv-renamed.xlsx": _csv(good),
        "damaged.xlsx": b"PK\x03\x04" + bytes(200),
        "damaged.npz": b"PK\x03\x04" + b"\x01" * 64,
        "wrong-keys.npz": _npz(a=np.zeros((4, 2)), b=np.zeros(4)),
        "folder.csv/keep": "",
        "stray-text.csv": _csv(stray),  # a numeric column with `?` cells: once one-hot encoded silently
        "free-text.csv": _csv(free_text),  # 30 distinct words would have become 30 features
        "semicolons.csv": good.to_csv(index=False, sep=";", decimal=","),
        "target-on-second-sheet.xlsx": _xlsx_sheets({"Notes": pd.DataFrame({"note": ["read me"]}), "Data": good}),
        # specs
        "typo-section.yaml": "data: {source: iris}\nmodle: {hidden: [{units: 3}]}\n",
        "typo-field.yaml": "data: {source: iris}\ntrain: {epoch: 3}\n",
        "wrong-type.yaml": "data: {source: iris}\ntrain: {epochs: many}\n",
        "negative-lr.yaml": "data: {source: iris}\ntrain: {learning_rate: -1}\n",
        "infinite-lr.yaml": "data: {source: iris}\ntrain: {learning_rate: .inf}\n",
        "test-size.yaml": "data: {source: iris, test_size: 1.5}\n",
        "one-fold.yaml": "data: {source: iris}\nevaluate: {folds: 1}\n",
        "activation.yaml": "data: {source: iris}\nmodel: {hidden: [{units: 3}, {units: 3, activation: rleu}]}\n",
        "layer-type.yaml": "data: {source: iris}\nmodel: {hidden: [{type: dens, units: 3}]}\n",
        "huge-units.yaml": "data: {source: iris}\nmodel: {hidden: [{units: 100000000000}]}\n",
        "hidden-not-list.yaml": "data: {source: iris}\nmodel: {hidden: 5}\n",
        "optimizer.yaml": "data: {source: iris}\ntrain: {optimizer: adamm}\n",
        "source-typo.yaml": "data: {source: irsi}\n",
        "target-typo.yaml": "data: {source: iris, target: specis}\n",
        "path-name.yaml": "name: ../../elsewhere\ndata: {source: iris}\n",
        "negative-seed.yaml": "seed: -1\ndata: {source: iris}\n",
        "syntax.yaml": "data: {source: iris\ntrain: [epochs: 3\n",
        "tab.yaml": "data:\n\tsource: iris\n",
        "duplicate-key.yaml": "data: {source: iris}\ntrain: {epochs: 3}\ndata: {source: f1}\n",
        "empty.yaml": "",
        "list.yaml": "- data\n- model\n",
        "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        "search.yaml": "data: {source: iris}\ntrain: {optimizer: [sgd, adam]}\n",
        "search-section.yaml": "data: {source: iris}\nsearch: {sampler: tpe}\n",
        "alias-bomb.yaml": bomb.replace("l8: &l8", "data: {source: iris, drop: *l7}\nl8: &l8"),
        "alias-loop.yaml": "data: {source: iris, drop: &a [*a]}\n",
        "relative-source.yaml": "data: {source: nowhere/good.csv, target: y}\n",  # read next to the spec
        "relative-search.yaml": "name: rel\ndata: {source: nowhere/good.csv, target: y}\n"
                                "train: {epochs: 1, learning_rate: [0.01, 0.1]}\nevaluate: {folds: 2}\n",
        "short-predict.yaml": "data: {source: iris}\npredict: [[5.1, 3.5]]\n",
        "input-shape.yaml": "data: {source: iris}\nmodel: {input_shape: [3, 1], hidden: [{type: lstm, units: 2}]}\n",
        "conv-on-rows.yaml": "data: {source: iris}\nmodel: {hidden: [{type: conv2d, filters: 2, kernel_size: 3}]}\n",
        "image-into-head.yaml": "data: {source: iris}\nmodel: {input_shape: [2, 2, 1], hidden: [{type: conv2d, "
                                "filters: 2, kernel_size: 3}]}\n",
    }


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _xlsx_sheets(frames: dict) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        for sheet, frame in frames.items():
            frame.to_excel(writer, sheet_name=sheet, index=False)
    return buffer.getvalue()


def _xlsx(frame: pd.DataFrame, sheet: str) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, sheet_name=sheet, index=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    for name, content in _files().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


@dataclass(frozen=True)
class Case:
    argv: str  # split on spaces; {d} is the corpus folder, {out} a fresh --out path
    field: str  # the field the line must name
    fix: str  # a regular expression for the fix it must give


def study(file: str, target: str = "y") -> str:
    return f"study rocks --data {{d}}/{file} --target {target} --out {{out}} --quiet"


def run_data(file: str, *extra: str) -> str:
    return " ".join([f"run iris --out {{out}} --set data.source={{d}}/{file} --set data.target=y", *extra, *QUICK])


def run(spec: str) -> str:
    return f"run {{d}}/{spec} --out {{out}} --quiet"


CASES = {
    # --- files -------------------------------------------------------------------------
    "empty file": Case(study("empty.csv"), "data.source", "needs a header row and data rows"),
    "blank lines only": Case(study("blank.csv"), "data.source", "needs a header row"),
    "binary file": Case(study("binary.csv"), "data.source", "export it as csv, xlsx or npz"),
    "ragged rows": Case(study("ragged.csv"), "data.source", "every row needs the same number of fields"),
    "wrong encoding (UTF-16, no BOM)": Case(study("utf16.csv"), "data.source", "save it as UTF-8"),
    "NaN in a feature": Case(study("nan.csv"), "data:", "set `data.missing: drop`"),
    "inf in a feature": Case(run_data("inf.csv"), "column(s) x1", "replace them or drop those rows"),
    "beyond float32": Case(run_data("huge.csv"), "column(s) x1", "rescale them"),
    "duplicate columns": Case(study("duplicate-columns.csv"), "data.source", "rename one of them"),
    "one class": Case(study("one-class.csv"), "data.target", "needs at least 2 classes"),
    "fewer rows than folds": Case(study("few-rows.csv"), "evaluate.folds", "lower `evaluate.folds` or add rows"),
    "class with a single row": Case(run_data("singleton-class.csv"), "data.target", "a stratified split needs 2"),
    "text id column": Case(run_data("ids.csv"), "data.features", "add it to `data.drop`"),
    "header without rows": Case(study("header-only.csv"), "data.source", "add the data rows"),
    "csv renamed .xlsx": Case(study("csv-renamed.xlsx"), "data.source", "rename it to .csv"),
    "damaged xlsx": Case(study("damaged.xlsx"), "data.source", "save it again, or export it as csv"),
    "damaged npz": Case(run_data("damaged.npz"), "data.source", "save it again"),
    "npz without x and y": Case(run_data("wrong-keys.npz"), "data.source", r"numpy.savez\(path, x=X, y=y\)"),
    "folder as data": Case(study("folder.csv"), "data.source", "give a csv, xlsx, xls or npz file"),
    "missing --data file": Case(study("nope.csv"), "data.source", "give a csv/xlsx/xls/npz path"),
    "--target naming no column": Case(study("good.csv", "Y"), "data.target", "did you mean `y`"),
    "text target as regression": Case(run_data("good.csv", "--set data.task=regression"), "data.target",
                                      "set `data.task: classification`"),
    "no such sheet": Case(run_data("good.xlsx", "--set data.sheet=Dta"), "data.sheet", "did you mean `Data`"),
    "target on another sheet": Case(run_data("target-on-second-sheet.xlsx"), "first sheet `Notes`",
                                    "set `data.sheet: Data`"),
    "text cells in a numeric column": Case(run_data("stray-text.csv"), "column `x1`",
                                           r"`\?` in row\(s\) 5, 18; `n\.a\.` in row\(s\) 31 .*"
                                           r"set `data.na_values: \[\"\?\", \"n\.a\.\"\]`"),
    "free text with many values": Case(run_data("free-text.csv"), "column `note` has 30 different values",
                                       "list it in `data.categorical` to encode it anyway, or in `data.drop`"),
    "wrong delimiter": Case(run_data("semicolons.csv", "--set data.delimiter=/"), "data.delimiter",
                            "set `data.delimiter` to the character between its fields"),
    "delimiter of two characters": Case(run_data("good.csv", "--set data.delimiter=ab"), "data.delimiter",
                                        "expected the one character between fields"),
    "unknown decimal mark": Case(run_data("semicolons.csv", "--set data.decimal=x"), "data.decimal",
                                 "expected one of"),
    "na_values not texts": Case(run_data("good.csv", "--set data.na_values=[[1]]"), "data.na_values",
                                "quoted where YAML would read them otherwise"),
    # --- specs -------------------------------------------------------------------------
    "typo in a section": Case(run("typo-section.yaml"), "modle", "did you mean `model`"),
    "typo in a field": Case(run("typo-field.yaml"), "train.epoch", "did you mean `epochs`"),
    "wrong type": Case(run("wrong-type.yaml"), "train.epochs", "expected an integer"),
    "negative learning rate": Case(run("negative-lr.yaml"), "train.learning_rate", "expected > 0"),
    "infinite learning rate": Case(run("infinite-lr.yaml"), "train.learning_rate", "expected a finite number"),
    "test_size out of range": Case(run("test-size.yaml"), "data.test_size", r"expected a fraction in \[0, 1\)"),
    "one fold": Case(run("one-fold.yaml"), "evaluate.folds", "expected at least 2"),
    "activation typo": Case(run("activation.yaml"), "model.hidden[1].activation", "did you mean `relu`"),
    "layer type typo": Case(run("layer-type.yaml"), "model.hidden[0].type", "did you mean `dense`"),
    "absurd width": Case(run("huge-units.yaml"), "model.hidden[0].units", "expected an integer of at most"),
    "hidden not a list": Case(run("hidden-not-list.yaml"), "model.hidden", "expected a list of layers"),
    "unknown optimizer": Case(run("optimizer.yaml"), "train.optimizer", "did you mean `adam`"),
    "unknown data source": Case(run("source-typo.yaml"), "data.source", "did you mean `iris`"),
    "unknown target": Case(run("target-typo.yaml"), "data.target", "did you mean `species`"),
    "name with a path": Case(run("path-name.yaml"), "name", "without `/`"),
    "negative seed": Case(run("negative-seed.yaml"), "seed", "expected an integer from 0"),
    "YAML syntax": Case(run("syntax.yaml"), "invalid YAML at line 2", "check indentation, colons and brackets"),
    "YAML tab": Case(run("tab.yaml"), "invalid YAML at line 2", "check indentation"),
    "YAML duplicate key": Case(run("duplicate-key.yaml"), "the key `data` appears twice", "keep one of them"),
    "empty spec": Case(run("empty.yaml"), "the file is empty", "needs at least `data:"),
    "spec not a mapping": Case(run("list.yaml"), "expected a mapping of sections", r"\(data, model, train"),
    "binary spec": Case(run("binary.yaml"), "not UTF-8 text", "save the spec as UTF-8"),
    "spec is a folder": Case("run {d} --out {out} --quiet", "cannot be read", "give a readable YAML file"),
    "searched field given to run": Case(run("search.yaml"), "train.optimizer",
                                        "run the spec with `denselab search SPEC`"),
    "predict row too short": Case(run("short-predict.yaml"), "predict", "each row needs 4 values"),
    "input_shape that does not fit": Case(run("input-shape.yaml"), "model.input_shape", "each row has 4 features"),
    "conv2d on flat rows": Case(run("conv-on-rows.yaml"), "model.hidden[0].type", "set `model.input_shape`"),
    "image into the output layer": Case(run("image-into-head.yaml"), "model.hidden", "end with `{type: flatten}`"),
    "validation split leaving no rows": Case("run iris --out {out} --quiet --set train.validation_split=0.999 "
                                             "--set train.patience=2 --set train.epochs=1", "train.validation_split",
                                             "lower it or add rows"),
    "search section given to run": Case(run("search-section.yaml"), "search", "run it with `denselab search SPEC`"),
    "YAML alias bomb": Case(run("alias-bomb.yaml"), "aliases (`*name`) expand it past 100000 values",
                            "write the values out instead of nesting aliases"),
    "YAML alias in itself": Case(run("alias-loop.yaml"), "an alias refers to the list or mapping it is in",
                                 "write the values out"),
    "relative source missing beside the spec": Case(run("relative-source.yaml"), "data.source",
                                                    "a relative path in a spec is read from the spec's folder"),
    "search spec with a relative source missing": Case("search {d}/relative-search.yaml --out {out} --quiet",
                                                       "/nowhere/good.csv`: the spec gives `nowhere/good.csv`",
                                                       "a relative path in a spec is read from the spec's folder"),
    "absurd epochs": Case("run iris --out {out} --quiet --set train.epochs=1.0e+9", "train.epochs",
                          r"need about 1\.\d TB for their epoch histories.*; lower train.epochs"),
    "absurd epochs on model.fit": Case("run iris --out {out} --quiet --engine fit --set train.epochs=1.0e+9",
                                       "train.epochs", "lower train.epochs"),
    "absurd seeds": Case("run iris --out {out} --quiet --set evaluate.seeds=100000", "evaluate.seeds",
                         "more than the 10000 one run trains; lower evaluate.seeds"),
    # --- command lines -----------------------------------------------------------------
    "unknown subcommand": Case("serch iris", "command: invalid choice: 'serch'", "`denselab --help`"),
    "no subcommand": Case("", "no command given", "`denselab --help`"),
    "missing spec": Case("run", "required: spec", "`denselab run --help`"),
    "nonexistent spec": Case("run nope.yaml --out {out}", "spec", "examples: f1, iris"),
    "--set without =": Case("run iris --out {out} --set train.epochs", "--set train.epochs", "expected KEY=VALUE"),
    "--set unknown field": Case("run iris --out {out} --set model.hiden=3", "model.hiden", "did you mean `hidden`"),
    "--set into a value": Case("run iris --out {out} --set train.epochs.x=3", "--set train.epochs.x",
                               "set `train.epochs` itself"),
    "--set index out of range": Case("run iris --out {out} --set model.hidden[5].units=3", "index [5]",
                                     "indexed from 0"),
    "--set invalid YAML": Case("run iris --out {out} --set train.epochs=[1", "--set train.epochs=[1",
                               "write lists as"),
    "--set huge integer": Case("run iris --out {out} --set train.epochs=99999999999999999999", "train.epochs",
                               "at most 2147483647"),
    "--set NaN folds": Case("run iris --out {out} --set evaluate.folds=.nan", "evaluate.folds",
                            "expected an integer"),
    "--trials 0": Case("search iris-search --out {out} --trials 0", "--trials", "expected a positive integer"),
    "--trials abc": Case("search iris-search --out {out} --trials abc", "--trials: invalid int value",
                         "`denselab search --help`"),
    "--storage nonsense": Case("search iris-search --out {out} --storage nonsense", "--storage",
                               "expected e.g. sqlite:///denselab.db"),
    "--engine unknown": Case("run iris --out {out} --engine gpu", "--engine: invalid choice", "choose from"),
    "unknown option": Case("run iris --out {out} --bogus", "unrecognized arguments: --bogus", "--help"),
    "search with nothing to search": Case("search iris --out {out} --quiet", "search", "give a field a list"),
    "search sampler typo": Case("search iris-search --out {out} --set search.sampler=tpee", "search.sampler",
                                "did you mean `tpe`"),
    "--out is a file": Case("run iris --out {d}/good.csv", "--out", "choose a new folder"),
    "--out is a full folder": Case("run iris --out {d}", "--out", "choose a new folder or remove it"),
    "--out inside a file": Case("run iris --out {d}/good.csv/report", "--out", "choose another folder"),
    "unknown study": Case("study rockz --out {out}", "study", "did you mean `rocks`"),
    "study --seed abc": Case("study rocks --seed abc --out {out}", "--seed: invalid int value", "--help"),
    "study --target without --data": Case("study rocks --target y --out {out}", "--target", "give --data FILE"),
    "study --full on a study without one": Case("study rocks --full --out {out}", "study --full", "drop --full"),
    "study --full with --quick": Case("study synthetic2d --full --quick --out {out}", "study --full and --quick",
                                      "choose one"),
    "study --data without --target": Case("study rocks --data {d}/good.csv --out {out}", "--target",
                                          "e.g. --target"),
}


def check_one_line(rc: int, out: str, err: str, field: str, fix: str) -> str:
    assert rc == 2, (rc, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("denselab: error: "), line
    assert field in line, line
    assert re.search(fix, line), line
    return line


def nothing_written(folder: pathlib.Path) -> None:
    """The working folder of a failed command stays empty: no report, no partial folder, no database."""
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert left == [], left


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_gives_one_line_and_writes_nothing(case, corpus, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default --out and the default search database would land here
    argv = case.argv.format(d=corpus, out=work / "report").split()
    before = sorted(p.name for p in corpus.rglob("*"))
    rc = main(argv)
    out, err = capsys.readouterr()
    check_one_line(rc, out, err, case.field, case.fix)
    nothing_written(work)
    assert sorted(p.name for p in corpus.rglob("*")) == before  # nothing written next to the inputs either


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 40
    kinds = {"file": 0, "spec": 0, "cli": 0}
    for case in CASES.values():
        kinds["file" if "--data" in case.argv or "data.source=" in case.argv
              else "spec" if "{d}/" in case.argv and ".yaml" in case.argv else "cli"] += 1
    assert min(kinds.values()) >= 10, kinds


# --- the real process: exit code and stderr as a shell sees them -----------------------

@pytest.mark.parametrize("argv, field", [
    (["serch"], "command: invalid choice"),
    (["search", "iris-search", "--trials", "abc"], "--trials"),
    (["study", "rocks", "--data", "{d}/csv-renamed.xlsx", "--target", "y", "--out", "{out}"], "data.source"),
])
def test_real_process_exit_code_and_single_line(argv, field, corpus, tmp_path):
    script = pathlib.Path(sys.executable).with_name("denselab")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "denselab.cli"]
    argv = [a.format(d=corpus, out=tmp_path / "report") for a in argv]
    done = subprocess.run(command + argv, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    check_one_line(done.returncode, done.stdout, done.stderr, field, ";")
    nothing_written(tmp_path)


def _cli() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("denselab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "denselab.cli"]


def test_an_out_folder_claimed_by_another_process_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from denselab.report.html import check_out_dir, release_out_dir

    out = tmp_path / "report"
    check_out_dir(out)  # this test process now holds the claim, as a running `denselab run` would
    try:
        done = subprocess.run(_cli() + ["run", "iris", "--out", str(out), *QUICK], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env={**os.environ, "KERAS_BACKEND": "jax"})
        check_one_line(done.returncode, done.stdout, done.stderr, "--out",
                       rf"is being written by another denselab process \(pid {os.getpid()}\); choose another folder")
        nothing_written(tmp_path)
    finally:
        release_out_dir(out)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "iris", "--out", str(out), *QUICK]) == 0  # released: the folder can be written
    assert (out / "report.html").exists()


def test_two_runs_started_together_with_one_out_folder(tmp_path):
    out = tmp_path / "report"
    argv = _cli() + ["run", "iris", "--out", str(out), *QUICK]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
            for _ in range(2)]
    done = [(p.wait(timeout=300), *p.communicate()) for p in runs]
    assert sorted(rc for rc, _, _ in done) == [0, 2], done
    rc, stdout, stderr = next(d for d in done if d[0] == 2)
    # refused before training: claimed by the other run, or (if that one was already done) written by it
    line = check_one_line(rc, stdout, stderr, "--out", "choose")
    assert "being written by another denselab process" in line or "already exists" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # one report, no partial folder


def test_help_is_still_the_usual_usage_block(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: denselab run") and "--set KEY=VALUE" in out and out.count("\n") > 5


# --- read-only and full disks ----------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["run", "iris"], ["search", "iris-search", "--storage", "sqlite:///{work}/search.db"], ["study", "rocks"],
])
def test_read_only_out_folder_is_refused_before_any_data_is_read(command, tmp_path, monkeypatch, capsys):
    work, locked = tmp_path / "work", tmp_path / "locked"
    work.mkdir()
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.chdir(work)
    if os.access(locked, os.W_OK):  # root ignores permission bits: make the folder refuse as a read-only mount
        real = tempfile.mkdtemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and pathlib.Path(dir) == locked:
                raise PermissionError(errno.EROFS, "Read-only file system", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkdtemp", refuse)

    def read_table(*args, **kwargs):  # every path to training starts by reading the data
        raise AssertionError("the data was read before --out was checked")

    monkeypatch.setattr("denselab.data.prepare.read_table", read_table)
    argv = [a.format(work=work) for a in command] + ["--out", str(locked / "report"), "--quiet"]
    line = check_one_line(main(argv), *capsys.readouterr(), "--out", "choose a folder you can write to")
    assert str(locked / "report") in line
    locked.chmod(0o755)
    nothing_written(locked)
    nothing_written(work)  # no search database either


def _disk_full_in_partial_folders(monkeypatch):
    """Every write inside a report's temporary folder fails as on a full disk."""
    real = pathlib.Path.write_text

    def write_text(self, *args, **kwargs):
        if ".partial-" in str(self):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def test_disk_full_while_writing_a_report_leaves_nothing(tmp_path, monkeypatch):
    _disk_full_in_partial_folders(monkeypatch)
    out = tmp_path / "reports" / "demo"
    with pytest.raises(DenselabError) as info:
        write_report(out, "Demo", [Section("Scores", "All good.")], {"accuracy": 0.9}, {})
    message = str(info.value)
    assert message.startswith("--out: cannot write the report into") and str(out) in message
    assert "No space left on device" in message and "\n" not in message
    assert list((tmp_path / "reports").iterdir()) == []  # no report folder, no partial folder


def test_disk_full_after_training_run_is_one_line(tmp_path, monkeypatch, capsys):
    _disk_full_in_partial_folders(monkeypatch)
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "iris", "--out", str(tmp_path / "report"), *QUICK])
    line = check_one_line(rc, *capsys.readouterr(), "--out", "with free space")
    assert "No space left on device" in line
    nothing_written(tmp_path)


def test_disk_full_after_search_keeps_the_finished_trials(tmp_path, monkeypatch, capsys):
    import optuna

    db = f"sqlite:///{tmp_path / 'search.db'}"
    spec = tmp_path / "tiny-search.yaml"
    spec.write_text("name: tiny-search\ndata: {source: iris}\nmodel: {hidden: [{units: 4}]}\n"
                    "train: {epochs: 1, learning_rate: [0.01, 0.1]}\nevaluate: {folds: 2}\n"
                    "search: {sampler: grid, batch: 2}\n")
    argv = ["search", str(spec), "--trials", "2", "--storage", db, "--out", str(tmp_path / "report"), "--quiet"]
    with monkeypatch.context() as patch:
        _disk_full_in_partial_folders(patch)
        rc = main(argv)
    check_one_line(rc, *capsys.readouterr(), "--out", "with free space")
    assert not (tmp_path / "report").exists()
    study = optuna.load_study(study_name="tiny-search", storage=db)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 2  # nothing lost
    assert main(argv) == 0  # the same command again: no trial redone, the report written
    assert "(0 new" in capsys.readouterr().out and (tmp_path / "report" / "report.html").exists()


# --- credentials never shown -----------------------------------------------------------

def test_storage_password_never_appears(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level("DEBUG")
    monkeypatch.chdir(tmp_path)
    url = "postgresql://user:s3cret@127.0.0.1:1/db"
    rc = main(["search", "iris-search", "--storage", url, "--out", str(tmp_path / "report"), *QUICK])
    out, err = capsys.readouterr()
    line = check_one_line(rc, out, err, "--storage", "cannot open the database")
    assert "postgresql://user:***@127.0.0.1:1/db" in line
    assert "s3cret" not in out + err + caplog.text
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or b"s3cret" not in path.read_bytes(), path


def test_password_of_a_misplaced_url_is_hidden_too(capsys):
    rc = main(["search", "iris-search", "postgresql://user:s3cret@127.0.0.1:1/db"])  # forgot --storage
    out, err = capsys.readouterr()
    check_one_line(rc, out, err, "unrecognized arguments: postgresql://user:***@127.0.0.1:1/db", "--help")
    assert "s3cret" not in out + err
