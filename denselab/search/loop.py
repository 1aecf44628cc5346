"""The search loop every worker runs: claim → train on the study's plan → tell (after `optuna/study/_optimize.py`).

Each round a worker takes the study lock, recovers orphaned trials, asks Optuna only for
what is still missing (wanted − COMPLETE − RUNNING), groups the asked trials into arms of
the study's plan (`train/plan.py`: one engine call per structure group, members are
trials × folds × seeds with the trial's hyperparameters) and tells each trial its CV
mean. The objective is k-fold CV on the training rows with the same folds and member
seeds for every trial (paired scores), so a trial's numbers equal `cross_validate` of its
spec and do not depend on which batch, group, worker or machine ran it.

Owns: the loop, a trial's stored attributes (`cv`: per-member scores, folds, seeds,
summary, parameter count, health; `history`: per-epoch means over members; `manifest`;
`engine`) and the study's target (`denselab_target`). `runner.py` (`search`) and
`worker.py` (`work`, local worker processes) both drive it; neither imports the other's
internals. Storage and outages: `store.py`; owners, heartbeats, retries: `recovery.py`.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from denselab.data.prepare import load_dataset
from denselab.errors import DenselabError, SpecError
from denselab.search import recovery, store
from denselab import comparison
from denselab.search.space import Space
from denselab.spec import Experiment, apply_override, read_yaml
from denselab.train.plan import Arm, Plan
from denselab.workflow import manifest

STUDY_ATTR = "denselab"
TARGET_ATTR = "denselab_target"
HISTORY_POINTS = 200  # at most this many epochs are kept per trial history (evenly spaced)
GIVE_UP_AFTER = 3  # random/TPE: this many configurations in a row failing every attempt stop the search


@dataclass
class Ctx:
    space: Space
    study: object
    plan: Plan  # the data set, its splits and member seeds: the same for every trial
    engine: str | None
    log: Callable[[str], None]
    url: str
    watch: recovery.Watch
    metric: str
    direction: str
    calls: int = 0
    new: int = 0
    notes: list = field(default_factory=list)


def open_search(space: Space, storage: str | None, engine: str | None, log) -> Ctx:
    """Load the data, open (or create) the study and its sampler: what a worker needs."""
    url = str(storage or store.DEFAULT_STORAGE)
    exp = space.base
    from denselab.metrics import METRICS

    plan = Plan.cv(exp, load_dataset(exp.data, exp.seed))
    metric = plan.metric  # evaluate.metric: what the search optimizes
    direction = "maximize" if METRICS[metric].greater_is_better else "minimize"
    study = _open_study(space, url, direction, metric, log)
    study.sampler = space.make_sampler()
    return Ctx(space, study, plan, engine, log, url, recovery.Watch(url), metric, direction)


def wanted_trials(space: Space, trials: int | None, log) -> int:
    """`trials` (default `search.trials`), at most the grid's size."""
    if isinstance(trials, bool) or not (trials is None or isinstance(trials, int) and trials >= 1):
        raise SpecError(f"--trials: got `{trials}`; expected a positive integer, e.g. --trials 20")
    wanted = space.trials if trials is None else trials
    size = space.grid_size()
    if size is not None and wanted > size:
        log(f"the grid has {size} point(s); searching all of them instead of {wanted}")
        wanted = size
    return wanted


# --- the loop -----------------------------------------------------------------

def loop(ctx: Ctx, wanted: Callable[[], int]) -> str:
    """Claim and run batches until `wanted()` trials are COMPLETE or nothing is left to try.

    Returns `done` or `exhausted` (a grid whose remaining points failed for good).
    Raises DenselabError when GIVE_UP_AFTER configurations in a row failed on every
    attempt (random/TPE would otherwise draw failing configurations forever).
    """
    beat = recovery.Heartbeat(ctx.study)
    idle = recovery.beat_every()
    try:
        while True:
            asked, stopped = _claim(ctx, wanted())
            if stopped:
                return stopped
            if not asked:  # the rest is running elsewhere: watch it, in case its worker dies
                time.sleep(min(2.0, idle))
                continue
            ids = [trial._trial_id for trial, _ in asked]
            beat.hold(ids)
            try:
                _run_batch(ctx, asked)
            except BaseException:
                _abandon(ctx, asked)
                raise
            finally:
                beat.release(ids)
    finally:
        beat.close()


def _claim(ctx: Ctx, wanted: int) -> tuple[list, str | None]:
    """Under the study lock: recover orphans, count, ask what is missing. ([(trial, params)], stop)

    An outage while the lock is held may have released it (it lives on a connection), so
    counting and asking never wait one out: they give their trials back and the next
    claim starts over. Recovery may wait: failing an orphan is guarded by a row lock.
    """
    from optuna.trial import TrialState

    space, study = ctx.space, ctx.study
    waiter = getattr(study._storage, "waiter", None)
    waits = waiter.waits if waiter else 0
    asked = []
    try:
        with store.study_lock(study._storage, space.base.name, ctx.log):
            recovery.recover(study, ctx.watch, [p.path for p in space.params], space.retries, ctx.log)
            if waiter and waiter.waits != waits:
                return [], None
            with store.no_wait():
                trials = study.get_trials(deepcopy=False)
                count = {state: sum(t.state == state for t in trials) for state in TrialState}
                complete, running = count[TrialState.COMPLETE], count[TrialState.RUNNING]
                if complete >= wanted:
                    return [], "done"
                if space.sampler != "grid":
                    _check_giving_up(trials)
                k = min(space.batch, wanted - complete - running)
                if space.sampler == "grid":  # never re-evaluate a grid point (a failed one included)
                    k = min(k, count[TrialState.WAITING] + len(study.sampler._get_unvisited_grid_ids(study)))
                    if k <= 0 and not running:
                        ctx.log(f"the grid is exhausted: {complete} trial(s) complete, the others failed")
                        return [], "exhausted"
                for _ in range(k):
                    trial = study.ask()
                    asked.append((trial, None))
                    recovery.mark(study, trial._trial_id)
                    asked[-1] = (trial, space.suggest(trial))
    except Exception as exc:
        if not store.unreachable(exc):
            _abandon(ctx, asked)
            raise
        ctx.log(f"the database went away while trials were being claimed ({store.first_line(exc, ctx.url)}); "
                "claiming again")
        _abandon(ctx, asked)
        return [], None
    except BaseException:
        _abandon(ctx, asked)
        raise
    return asked, None


def _check_giving_up(trials: list) -> None:
    from optuna.trial import TrialState

    finished = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)),
                      key=lambda t: (t.datetime_complete is None, t.datetime_complete))
    given_up, last = 0, None
    for t in reversed(finished):
        if t.state == TrialState.COMPLETE:
            break
        failure = t.user_attrs.get(recovery.FAILURE_ATTR) or {}
        if failure.get("kind") == "raised" and not failure.get("requeued"):
            given_up += 1
            last = last or t.user_attrs.get("error")
    if given_up >= GIVE_UP_AFTER:
        raise DenselabError(f"search: {given_up} configurations in a row failed on every attempt and none "
                            f"finished in between, so the fault is unlikely to be theirs; last error: {last}")


def _abandon(ctx: Ctx, asked: list) -> None:
    """Interrupted mid-batch: fail the batch's unfinished trials and enqueue them again (no retry spent).

    A trial left RUNNING by a live process would never be recovered, so this reads each
    trial afresh (its params may not all be drawn yet) and waits out an outage.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    names = [p.path for p in ctx.space.params]
    for trial, _ in asked:
        try:
            frozen = ctx.study._storage.get_trial(trial._trial_id)
            recovery.fail(ctx.study, frozen, "interrupted", "interrupted",
                          recovery.params_of(ctx.study.sampler, frozen, names), recovery.attempt_of(frozen.user_attrs))
        except UpdateFinishedTrialError:
            continue
        except BaseException:  # a second Ctrl-C, or the database gone for good: recovery does the rest
            return


def _run_batch(ctx: Ctx, asked: list) -> int:
    """Train the asked trials, one engine call per structure group (the plan's); tell each.

    Returns how many completed. A group's failure fails its trials only.
    """
    arms = {f"#{trial.number}": (trial, params) for trial, params in asked}
    completed = 0
    for group in ctx.plan.groups([Arm(name, ctx.space.experiment(params)) for name, (_, params) in arms.items()]):
        try:
            outcome = _train_group(ctx, group)
        except DenselabError as exc:
            outcome = {arm.name: str(exc) for arm in group}
        except Exception as exc:  # the unit's own failure (bad values, XLA, memory): retried within budget
            outcome = {arm.name: f"{type(exc).__name__}: {exc}" for arm in group}
        for arm in group:
            trial, params = arms[arm.name]
            completed += _tell(ctx, trial, params, outcome[arm.name])
    return completed


def _tell(ctx: Ctx, trial, params: dict, got) -> int:
    """Store a trial's result (or failure) and tell Optuna; 1 if it completed."""
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        if isinstance(got, str):
            message = store.scrub(got.strip().splitlines()[0] if got.strip() else "error", ctx.url)
            attempt = recovery.next_attempt(trial.user_attrs, ctx.space.retries)
            requeued = recovery.fail(ctx.study, trial, message, "raised", params, attempt)
            ctx.log(f"trial {trial.number} failed: {message}; "
                    + (f"retry {attempt - 1} of {ctx.space.retries} queued" if requeued else "no retries left"))
            return 0
        value = got["value"]
        if not math.isfinite(value):  # fixed seeds: a retry would diverge again
            recovery.fail(ctx.study, trial, f"the CV mean is {value} (training diverged)", "diverged", params, None)
            ctx.log(f"trial {trial.number} failed: CV mean {value} (diverged)")
            return 0
        for name, attr in got["attrs"].items():
            trial.set_user_attr(name, attr)
        ctx.study.tell(trial, value)
    except (UpdateFinishedTrialError, ValueError, RuntimeError):
        return _told_anyway(ctx, trial, got)
    ctx.new += 1
    cv = got["attrs"]["cv"]
    ctx.log(f"trial {trial.number}: {cv['metric']} {cv['mean']:.4f} ± {cv['std']:.4f}  {_label(params)}")
    return 1


def _told_anyway(ctx: Ctx, trial, got) -> int:
    """The trial was already finished when we told it: by our own tell whose answer a
    dropped connection lost (then it counts), or by a worker that took it for an orphan."""
    from optuna.trial import TrialState

    stored = ctx.study._storage.get_trial(trial._trial_id)
    if not isinstance(got, str) and stored.state == TrialState.COMPLETE and stored.value == got["value"]:
        ctx.new += 1
        return 1
    ctx.log(f"trial {trial.number} was closed by another worker (it took it for an orphan); its result is dropped")
    return 0


def _train_group(ctx: Ctx, arms: list) -> dict:
    started = time.perf_counter()
    results = ctx.plan.run(arms, engine=ctx.engine)
    ctx.calls += 1
    wall = time.perf_counter() - started
    out = {}
    info = manifest(ctx.space.base.seed)
    members = sum(len(r.scores) for r in results)
    for r in results:
        s = r.summary
        cv = {"metric": r.metric, "mean": s.mean, "std": s.std, "n": s.n, "ci95": list(s.ci95),
              "scores": r.scores.tolist(), "losses": r.losses.tolist(), "fold": r.fold.tolist(),
              "seed": r.seed.tolist(), "repeat": r.repeat.tolist(),
              "epochs_run": [int(m.epochs_run) for m in r.members],
              "n_params": comparison.network_entry(ctx.plan, r, r.metric).n_params,
              "health": list(comparison.health(ctx.plan, r))}
        attrs = {"cv": _finite(cv), "history": compact_history(r.histories),
                 "engine": {"engine": r.engine, "group_trials": len(arms), "members": members,
                            "compile_s": round(r.compile_s, 4), "run_s": round(r.run_s, 4),
                            "wall_s": round(wall, 4), "notes": list(r.notes)},
                 "manifest": info}
        out[r.name] = {"value": s.mean, "attrs": attrs}
    return out


# --- grouping and seeds --------------------------------------------------------

def compact_history(histories: list[dict]) -> dict:
    """Per-epoch mean over members of each history key, 5 significant digits, ≤ 200 epochs."""
    keys = sorted({k for h in histories for k in h})
    length = max((len(h.get(k, [])) for h in histories for k in keys), default=0)
    epochs = list(range(1, length + 1))
    if length > HISTORY_POINTS:
        epochs = sorted(set(np.linspace(1, length, HISTORY_POINTS).round().astype(int).tolist()))
    out = {"epoch": epochs}
    for k in keys:
        stack = np.full((len(histories), length), np.nan)
        for i, h in enumerate(histories):
            v = np.asarray(h.get(k, []), dtype=float)
            stack[i, :len(v)] = v
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(stack, axis=0)
        out[k] = [float(f"{mean[e - 1]:.5g}") if math.isfinite(mean[e - 1]) else None for e in epochs]
    return out


def _open_study(space: Space, url: str, direction: str, metric: str, log=None):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = store.open_storage(url, log)
    name = space.base.name
    wanted = {"fingerprint": space.fingerprint(), "metric": metric, "space": space.describe()}
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    except Exception as exc:
        raise DenselabError(f"--storage {store.mask_url(url)}: cannot open study `{name}` "
                            f"({store.scrub(str(exc).splitlines()[0], url)})") from None
    where = f"study `{name}` in {store.mask_url(url)}"
    if len(study.directions) != 1 or study.direction.name.lower() != direction:
        raise SpecError(f"{where} {study.direction.name.lower()}s its objective, this spec's {metric} is to "
                        f"{direction}; give the spec another `name` or use another --storage")
    with store.study_lock(study._storage, name, log):  # workers starting together: one marks it
        have = study.user_attrs.get(STUDY_ATTR)
        if have is None:
            if study.get_trials(deepcopy=False):
                raise SpecError(f"{where} already exists and was not made by `denselab search`; "
                                "give the spec another `name` or use another --storage")
            study.set_user_attr(STUDY_ATTR, wanted)
            with warnings.catch_warnings():  # "experimental since 3.2": stable enough for a label
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([metric])  # optuna-dashboard then labels the objective by its name
    if have is not None and have.get("fingerprint") != wanted["fingerprint"]:
        raise SpecError(f"{where} was made from a different spec (fields, search space or sampler "
                        "changed), so its trials are not comparable; give the spec a new `name` or "
                        "use another --storage")
    return study


# --- small helpers -------------------------------------------------------------

def raw_spec(spec, overrides) -> dict:
    if isinstance(spec, Experiment):
        raise SpecError("search: pass the spec as a YAML path, an example name or a dict with its "
                        "searched fields; an Experiment holds one value per field")
    if isinstance(spec, dict):
        import copy

        raw = copy.deepcopy(spec)
    else:
        raw = read_yaml(spec)
    for item in overrides or []:
        apply_override(raw, item)
    return raw


def decoded(space: Space, params: dict) -> dict:
    by_path = {p.path: p for p in space.params}
    return {k: (by_path[k].decode(v) if k in by_path else v) for k, v in params.items()}


def show(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _label(params: dict) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in params.items())


def _finite(d: dict) -> dict:
    """JSON-safe: NaN/inf → None (Optuna stores user attrs as JSON)."""
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return {k: fix(v) for k, v in d.items()}
