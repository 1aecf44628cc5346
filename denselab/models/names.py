"""The names every registry knows, as plain data: checking a spec needs no Keras.

Why: a spec names activations, initializers, optimizers and losses, and checking those
names through the registries imported Keras (and JAX): 3 s before `denselab run` could
say "unknown value `rellu`". The registries (`activations.py`, `initializers.py`,
`optimizers.py`, `losses.py`) take their names and aliases from here, so there is one
list; `check` resolves a plain name without importing them. Dicts with parameters and
callables still go through the registry's own `get` (their defaults come from Keras).

Example:
    >>> check("activation", "model.hidden[0].activation", "Logistic")
    'sigmoid'
"""

from __future__ import annotations

from denselab.models._registry import canonical

# metrics and baselines by task (`denselab.metrics.METRICS`, `denselab.baselines`), for the same
# reason: `evaluate.metric` and `evaluate.baselines` are checked without importing scikit-learn
METRIC_NAMES = {"classification": ("accuracy", "balanced_accuracy", "f1_macro", "log_loss"),
                "regression": ("rmse", "mae", "r2", "mse")}
BASELINE_NAMES = {"classification": ("majority", "logistic_regression", "random_forest", "hist_gradient_boosting"),
                  "regression": ("mean", "ridge", "random_forest", "hist_gradient_boosting")}

ACTIVATIONS_KERAS = (
    "linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
    "gelu", "silu", "leaky_relu", "relu6", "hard_sigmoid", "exponential",
    "softmax", "mish",
)
ACTIVATIONS_CUSTOM = ("arctan", "binary_step")  # ours, defined in activations.py
ACTIVATIONS_LAYER = ("prelu",)  # a layer after the Dense, not a function
ACTIVATION_ALIASES = {
    "identity": "linear", "logistic": "sigmoid", "soft_step": "sigmoid", "swish": "silu",
    "step": "binary_step", "heaviside": "binary_step", "atan": "arctan",
    "leakyrelu": "leaky_relu", "lrelu": "leaky_relu",
}

INITIALIZERS = (
    "zeros", "ones", "random_uniform", "random_normal", "truncated_normal",
    "orthogonal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "variance_scaling",
)
INITIALIZER_ALIASES = {"zero": "zeros", "one": "ones", "xavier": "glorot_uniform",
                       "xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
                       "uniform": "random_uniform", "normal": "random_normal"}

OPTIMIZER_CLASSES = {
    "sgd": "SGD", "adam": "Adam", "adadelta": "Adadelta", "adagrad": "Adagrad",
    "rmsprop": "RMSprop", "nadam": "Nadam", "adamw": "AdamW", "adamax": "Adamax",
}
OPTIMIZER_ALIASES = {"gradient_descent": "sgd", "rms_prop": "rmsprop"}

LOSSES_KERAS = ("categorical_crossentropy", "binary_crossentropy", "mse", "mae", "huber",
                "sparse_categorical_crossentropy")
LOSSES_CATALOGUE = ("l1", "l2", "expectation", "regularised_expectation", "chebyshev", "hinge",
                    "squared_hinge", "cubed_hinge", "squared_log", "tanimoto", "cauchy_schwarz")
LOSS_ALIASES = {
    "log": "categorical_crossentropy", "log_loss": "categorical_crossentropy",
    "crossentropy": "categorical_crossentropy", "cross_entropy": "categorical_crossentropy",
    "cce": "categorical_crossentropy", "bce": "binary_crossentropy",
    "mean_squared_error": "mse", "mean_absolute_error": "mae",
    "l1_loss": "l1", "l2_loss": "l2",
    "expectation_loss": "expectation",
    "regularized_expectation": "regularised_expectation", "brier": "regularised_expectation",
    "l_inf": "chebyshev", "linf": "chebyshev",
    "hinge2": "squared_hinge", "hinge3": "cubed_hinge",
    "log2": "squared_log", "squared_log_loss": "squared_log",
    "tan": "tanimoto", "tanimoto_loss": "tanimoto",
    "cauchy_schwartz": "cauchy_schwarz", "cs": "cauchy_schwarz", "d_cs": "cauchy_schwarz",
    "cauchy_schwarz_divergence": "cauchy_schwarz",
}

REGISTRIES = {
    "activation": (ACTIVATIONS_KERAS + ACTIVATIONS_CUSTOM + ACTIVATIONS_LAYER, ACTIVATION_ALIASES),
    "kernel_initializer": (INITIALIZERS, INITIALIZER_ALIASES),
    "optimizer": (tuple(OPTIMIZER_CLASSES), OPTIMIZER_ALIASES),
    "loss": (LOSSES_KERAS + LOSSES_CATALOGUE, LOSS_ALIASES),
}


def check(registry: str, field: str, name: str) -> str:
    """The canonical spelling of a plain `name` in `registry`, or a SpecError naming `field`."""
    names, aliases = REGISTRIES[registry]
    return canonical(field, name, names, aliases)
