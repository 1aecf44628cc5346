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
from denselab.spec import (  # noqa: E402
    DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec, load,
)

from denselab.workflow import RunResult, run  # noqa: E402
from denselab.train.evaluate import cross_validate  # noqa: E402
from denselab.data.prepare import load_dataset  # noqa: E402
from denselab.trained import TrainedModel, load as load_model  # noqa: E402
from denselab.estimators import Classifier, Regressor  # noqa: E402
from denselab.search import SearchResult, search  # noqa: E402  (the function shadows the subpackage name)
from denselab.studies import run_study  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DataError", "DenselabError", "SpecError", "DataSpec", "EvalSpec", "Experiment",
    "LayerSpec", "ModelSpec", "TrainSpec", "load", "run", "RunResult", "cross_validate",
    "load_dataset", "TrainedModel", "load_model", "Classifier", "Regressor", "search",
    "SearchResult", "run_study", "__version__",
]
