"""denselab: test deep neural networks on real data, honestly and fast.

Keras 3 on the JAX backend; cross-validation folds, seeds and numeric
hyperparameters of a configuration train together in one compiled program.

Example:
    >>> import denselab
    >>> result = denselab.run("iris", overrides=["train.epochs=5", "evaluate.folds=3"])  # doctest: +SKIP
"""

import os

# The backend must be chosen before Keras is first imported anywhere.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from denselab.errors import DataError, DenselabError, SpecError  # noqa: E402

# The rest loads on first use (PEP 562): `denselab --help`, `denselab datasets` and a
# spec error answer without importing JAX, Keras or matplotlib (seconds, every command).
_LAZY = {
    "DataSpec": "denselab.spec", "EvalSpec": "denselab.spec", "Experiment": "denselab.spec",
    "LayerSpec": "denselab.spec", "ModelSpec": "denselab.spec", "TrainSpec": "denselab.spec",
    "load": "denselab.spec", "RunResult": "denselab.workflow", "run": "denselab.workflow",
    "cross_validate": "denselab.train.evaluate", "load_dataset": "denselab.data.prepare",
    "TrainedModel": "denselab.trained", "load_model": "denselab.trained:load",
    "Classifier": "denselab.estimators", "Regressor": "denselab.estimators",
    "search": "denselab.search.runner", "SearchResult": "denselab.search.runner",
    "run_study": "denselab.studies", "study": "denselab.studies:run_study",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'denselab' has no attribute {name!r}")
    import importlib

    module, _, attr = _LAZY[name].partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "DataError", "DenselabError", "SpecError", "DataSpec", "EvalSpec", "Experiment",
    "LayerSpec", "ModelSpec", "TrainSpec", "load", "run", "RunResult", "cross_validate",
    "load_dataset", "TrainedModel", "load_model", "Classifier", "Regressor", "search",
    "SearchResult", "run_study", "study", "__version__",
]
