"""Where a study stands, read from its database by anyone: `denselab status SPEC --storage URL`.

Finished, running (owner and heartbeat age), waiting, failed (how many were redone,
how many failed for good, the latest reasons) and the best trial so far. It only reads:
no data is loaded, nothing is trained, and a study that does not exist is an error
rather than created.

Owns the status dict (`status()`) and its one-screen text (`render()`).

Example:
    >>> print(render(status("iris-search", "sqlite:///denselab.db")))     # doctest: +SKIP
    study `iris-search` in sqlite:///denselab.db: tpe, accuracy (maximize)
    finished 12 (20 wanted) · running 2 · waiting 0 · failed 1 (1 redone, 0 for good)
    ...
"""

from __future__ import annotations

import time
from pathlib import Path

from denselab.errors import DenselabError
from denselab.search import loop, recovery, store
from denselab.search.space import parse

SHOWN = 8  # running trials and failures listed; the rest are counted


def status(spec, storage: str | None = None, *, overrides: list[str] | None = None) -> dict:
    """The study's progress as a JSON-ready dict (see the module docstring)."""
    import optuna
    from optuna.trial import TrialState

    space = parse(loop.raw_spec(spec, overrides))
    url = str(storage or store.DEFAULT_STORAGE)
    name = space.base.name
    missing = DenselabError(f"status: no study `{name}` in {store.mask_url(url)}; start it with `denselab search`")
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise missing  # opening would create the file: status only reads
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=store.open_storage(url))
    except KeyError:
        raise missing from None
    made = study.user_attrs.get(loop.STUDY_ATTR) or {}
    trials = study.get_trials(deepcopy=False)
    by = {state: [t for t in trials if t.state == state] for state in TrialState}
    failed = by[TrialState.FAIL]
    redone = [t for t in failed if (t.user_attrs.get(recovery.FAILURE_ATTR) or {}).get("requeued")]
    now = time.time()
    target = study.user_attrs.get(loop.TARGET_ATTR)
    info = {
        "study": name, "storage": store.mask_url(url), "sampler": space.sampler,
        "metric": made.get("metric"), "direction": study.direction.name.lower(),
        "same_spec": made.get("fingerprint") == space.fingerprint(),
        "wanted": loop.wanted_trials(space, target if isinstance(target, int) else None, lambda m: None),
        "finished": len(by[TrialState.COMPLETE]), "running": len(by[TrialState.RUNNING]),
        "waiting": len(by[TrialState.WAITING]), "failed": len(failed), "retried": len(redone),
        "failed_for_good": len(failed) - len(redone),
        "running_trials": [_running(t, now) for t in by[TrialState.RUNNING]],
        "failures": [_failure(t, space.retries) for t in sorted(failed, key=lambda t: t.number)],
        "best": None,
    }
    if by[TrialState.COMPLETE]:
        best = study.best_trial
        cv = best.user_attrs.get("cv") or {}
        info["best"] = {"trial": best.number, "value": best.value, "std": cv.get("std"),
                        "params": loop.decoded(space, best.params)}
    return info


def _running(t, now: float) -> dict:
    who = t.user_attrs.get(recovery.OWNER_ATTR) or {}
    beat = t.user_attrs.get(recovery.HEARTBEAT_ATTR)
    return {"trial": t.number, "host": who.get("host"), "pid": who.get("pid"),
            "attempt": recovery.attempt_of(t.user_attrs),
            "heartbeat_age_s": None if beat is None else round(max(0.0, now - float(beat)), 1)}


def _failure(t, retries: int) -> dict:
    failure = t.user_attrs.get(recovery.FAILURE_ATTR) or {}
    return {"trial": t.number, "kind": failure.get("kind"), "attempt": failure.get("attempt", 1),
            "attempts": retries + 1, "requeued": bool(failure.get("requeued")), "error": t.user_attrs.get("error")}


def render(info: dict) -> str:
    """One screen of text for `status()`'s dict."""
    metric = f"{info['metric']} ({info['direction']})" if info["metric"] else info["direction"]
    lines = [f"study `{info['study']}` in {info['storage']}: {info['sampler']}, {metric}"]
    if not info["same_spec"]:
        lines.append("  note: the study was made from a different spec (fields, space or sampler changed)")
    lines.append(f"finished {info['finished']} ({info['wanted']} wanted) · running {info['running']} · waiting "
                 f"{info['waiting']} · failed {info['failed']} ({info['retried']} redone, "
                 f"{info['failed_for_good']} for good)")
    for r in info["running_trials"][:SHOWN]:
        age = "no heartbeat yet" if r["heartbeat_age_s"] is None else f"heartbeat {r['heartbeat_age_s']:.0f} s ago"
        lines.append(f"  running #{r['trial']}: {r['host']} pid {r['pid']}, attempt {r['attempt']}, {age}")
    _more(lines, info["running_trials"], "running")
    best = info["best"]
    if best:
        std = f" ± {best['std']:.4f}" if isinstance(best.get("std"), float) else ""
        params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
        lines.append(f"best so far: trial {best['trial']}: {info['metric'] or 'value'} {best['value']:.4f}{std}; "
                     f"{params}")
    else:
        lines.append("best so far: none (no finished trial yet)")
    recent = info["failures"][-SHOWN:]
    for f in recent:
        fate = "redone" if f["requeued"] else "for good"
        lines.append(f"  failed #{f['trial']} ({f['kind'] or '?'}, attempt {f['attempt']} of {f['attempts']}, "
                     f"{fate}): {f['error'] or 'no reason recorded'}")
    if len(info["failures"]) > len(recent):
        lines.append(f"  … and {len(info['failures']) - len(recent)} earlier failure(s)")
    return "\n".join(lines)


def _more(lines: list, items: list, what: str) -> None:
    if len(items) > SHOWN:
        lines.append(f"  … and {len(items) - SHOWN} more {what}")
