"""Every code block of README.md runs, so the README stays true.

bash blocks run line by line in a scratch folder laid out like a checkout (links to
`denselab/`, `examples/`, `scripts/`, `.venv`), `denselab` commands with small
`--set` overrides where the real run takes minutes; python blocks run as they are,
and a `print(...)  # literal` line must print that literal; yaml blocks are specs
that load; the plain block of error lines is what the commands print. A command that
cannot run here is listed in NOT_RUN with the reason, and the test fails when a README
command is neither run nor listed (or a listed one is no longer in the README).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TINY = ["--set", "train.epochs=2", "--set", "evaluate.folds=2", "--set", "train.batch_size=64"]

# command prefix (as written in the README) → why a test cannot run it here
NOT_RUN = {
    "scripts/test": "the test suite itself (this test is part of it)",
    **{f".venv/bin/denselab study {name}": "a whole study takes minutes to an hour; each study's --quick run is "
       "tests/test_studies_rocks_workshop.py, test_study_catalogue.py, test_study_synthetic2d.py"
       for name in ("rocks", "workshop", "synthetic2d", "catalogue")},
    ".venv/bin/denselab serve": "a web server that runs until stopped; tests/test_web_api.py drives the same app",
    ".venv/bin/denselab dashboard": "a web server that runs until stopped; tests/test_terminal.py reads a "
                                    "denselab study through the same optuna-dashboard app",
    ".venv/bin/denselab search examples/iris-search.yaml --storage postgresql://": "needs the PostgreSQL server "
        "named in the URL; tests/test_workers.py runs search, worker and status on a private server",
    ".venv/bin/denselab worker": "needs the PostgreSQL server named in the URL (tests/test_workers.py)",
    ".venv/bin/denselab status": "needs the PostgreSQL server named in the URL (tests/test_workers.py)",
}
# command prefix → what replaces it to keep the run short (same command, fewer epochs/folds/trials)
SHORTER = {
    "scripts/denselab run rocks": ["scripts/denselab", "run", "rocks", *TINY],
    ".venv/bin/denselab run andes.yaml --out runs/andes": [".venv/bin/denselab", "run", "andes.yaml", "--out",
                                                           "runs/andes", *TINY],
    ".venv/bin/denselab run andes.yaml --set train.epochs=5": [".venv/bin/denselab", "run", "andes.yaml", *TINY],
    ".venv/bin/denselab run iris --timings": [".venv/bin/denselab", "run", "iris", "--timings", *TINY],
    ".venv/bin/denselab search examples/iris-search.yaml --trials 20": [
        ".venv/bin/denselab", "search", "examples/iris-search.yaml", "--trials", "2", *TINY],
    ".venv/bin/denselab search examples/rocks-architecture.yaml": [
        ".venv/bin/denselab", "search", "examples/rocks-architecture.yaml", "--trials", "3", *TINY],
    ".venv/bin/denselab study overview --data rocks --target Rock_type --quick": [
        ".venv/bin/denselab", "study", "overview", "--data", "rocks", "--target", "Rock_type", "--quick",
        "--quiet", *TINY, "--set", "evaluate.baselines=[majority, logistic_regression]"],
    ".venv/bin/denselab study architectures --data rocks --target Rock_type --quick": [
        ".venv/bin/denselab", "study", "architectures", "--data", "rocks", "--target", "Rock_type", "--quick",
        "--quiet", *TINY, "--set", "evaluate.baselines=none"],
}


def blocks(lang: str) -> list[str]:
    return [b for lang_, b in re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.S | re.M) if lang_ == lang]


def commands() -> list[str]:
    """Every command line of the bash blocks, its trailing comment removed."""
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A scratch folder that looks like the repository root to the README's commands."""
    work = tmp_path_factory.mktemp("readme")
    # no pyproject.toml: `scripts/denselab` would reinstall when it is newer than .venv/.installed
    for name in ("denselab", "examples", "scripts", ".venv"):
        (work / name).symlink_to(ROOT / name)
    for block in blocks("yaml"):  # a block that names its file on its first line is that file
        first = block.splitlines()[0]
        match = re.match(r"#\s*(\S+\.ya?ml)\b", first)
        if match:
            (work / match.group(1)).write_text(block, encoding="utf-8")
    for line in commands():  # the README's file copies (`cp … andes.csv`), which the specs read
        if line.startswith("cp "):
            assert _shell(line, work).returncode == 0, line
    return work


def _shell(line: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(line if isinstance(line, str) else shlex.join(line), shell=True, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_every_readme_command_is_run_or_says_why_not():
    lines = commands()
    assert len(lines) >= 10
    for line in lines:
        runnable = line.startswith("cp ") or any(line.startswith(p) for p in SHORTER) or line in (
            ".venv/bin/denselab datasets", ".venv/bin/denselab examples")
        listed = [p for p in NOT_RUN if line.startswith(p)]
        assert runnable != bool(listed), f"README command neither run nor listed in NOT_RUN (or both): {line}"
    for prefix in [*NOT_RUN, *SHORTER]:
        assert any(line.startswith(prefix) for line in lines), f"stale entry, no README command starts {prefix!r}"


def test_bash_blocks_run(checkout):
    """In README order, so `cp … andes.csv` comes before the runs that read it."""
    ran = []
    for line in commands():
        if any(line.startswith(p) for p in NOT_RUN) or line.startswith("cp "):  # copies: done by `checkout`
            continue
        shorter = next((v for p, v in SHORTER.items() if line.startswith(p)), None)
        result = _shell(shorter or line, checkout)
        assert result.returncode == 0, f"{line}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        ran.append((line, result.stdout))
    out = dict(ran)
    assert "report: runs/andes/report.html" in out[".venv/bin/denselab run andes.yaml --out runs/andes"]
    assert re.search(r"predict \[.*'Paracas', 'lava', 'Peru'.*\] → (andesite|basaltic andesite|dacite|rhyolite|"
                     r"trachyandesite)", out[".venv/bin/denselab run andes.yaml --out runs/andes"])
    assert "rocks" in out[".venv/bin/denselab datasets"] and "iris" in out[".venv/bin/denselab examples"]
    assert "best params:" in out[".venv/bin/denselab search examples/iris-search.yaml --trials 20"]
    arch = next(v for k, v in out.items() if k.startswith(".venv/bin/denselab search examples/rocks-architecture"))
    assert "model.depth=" in arch and "model.layer.units=" in arch
    overview = next(v for k, v in out.items() if k.startswith(".venv/bin/denselab study overview"))
    assert "overview_arms:" in overview and "report: " in overview


def test_error_lines_are_what_the_commands_print(checkout):
    """The README's plain block of error lines, each from the command that makes it."""
    shown = [line for block in blocks("") for line in block.splitlines() if line.startswith("denselab: error:")]
    assert len(shown) == 2
    makes = {
        "data.categorical": [".venv/bin/denselab", "run", "andes.yaml", "--set",
                          "data.drop=[Arc, Location, Geochemistry Reference, Longitude (X), Latitude (Y), FeO, LOI]"],
        "model.hidden[0].activation": [".venv/bin/denselab", "run", "iris", "--set",
                                       "model.hidden[0].activation=rellu"],
    }
    for line in shown:
        field = line.removeprefix("denselab: error: ").split(":")[0]
        result = _shell(makes[field], checkout)
        assert result.returncode == 2
        printed = result.stderr.strip().splitlines()[-1]
        expected = line.removesuffix("…")
        assert printed.startswith(expected), (printed, line)


def test_yaml_blocks_are_specs_that_load(checkout):
    from denselab.search.space import parse
    from denselab.spec import Experiment

    specs = [yaml.safe_load(b) for b in blocks("yaml")]
    assert len(specs) == 3
    for spec in specs:
        if "search" in spec:
            assert parse(spec).sampler == spec["search"]["sampler"]
            example = f"examples/{spec['name']}.yaml"  # the README's commands run the shipped copy
            shipped = _leaves(yaml.safe_load((ROOT / example).read_text()))
            differs = {k: v for k, v in _leaves(spec).items() if shipped.get(k) != v}
            assert not differs, f"README's search spec says {differs}; {example}, which its " \
                                f"commands run, says otherwise"
        else:
            Experiment.from_dict(spec)


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_blocks_run_and_print_what_they_say(checkout, index):
    code = blocks("python")[index]
    result = subprocess.run([sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True,
                            timeout=900, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [line.strip() for line in result.stdout.splitlines()]
    for line in code.splitlines():
        want = _promise(line)
        if want is not None:  # a whole line of the output (a summary table may print between)
            assert want in printed, f"README says {line.strip()!r} prints {want}; it printed:\n{result.stdout[-2000:]}"


def _leaves(tree, prefix: str = "") -> dict:
    """`{"a.b": value}` for every leaf of nested dicts (lists are leaves)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}{key}.").items()}


def _promise(line: str):
    """The literal a `print(...)  # literal` line promises (as printed), else None (a description)."""
    match = re.match(r"\s*print\(.*\)\s+#\s*(.+)$", line)
    if not match:
        return None
    try:
        return str(ast.literal_eval(match.group(1)))
    except (ValueError, SyntaxError):
        text = match.group(1)
        return text if re.search(r"\(\d+ × \d+\)", text) else None  # a shape line is literal too
