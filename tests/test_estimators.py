"""denselab.Classifier / Regressor: scikit-learn's estimator contract and the tutorials' uses."""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from denselab.estimators import Classifier, Regressor

# check_estimator fits ~50 networks per estimator on a handful of data shapes. JAX's
# persistent compilation cache loads a program compiled before (the same network on
# the same shapes) in milliseconds instead of compiling it again; it is a
# process-wide setting that must be made before the first compilation, so each
# estimator's checks run in a process of their own (single-threaded XLA, so that
# three processes share two cores fairly), started when this module starts, while
# the other tests run here.
CHECK = textwrap.dedent("""
    import json, sys, time, warnings
    from sklearn.utils.estimator_checks import check_estimator
    import denselab.estimators

    warnings.simplefilter("ignore")
    kind = getattr(denselab.estimators, sys.argv[1])
    # Full-batch steps (batch_size above every check's row count: one compiled step
    # shape per fit) at a high rate, enough for check_classifiers_train's accuracy
    # > 0.83 on blobs and check_regressors_train's R^2 > 0.5.
    started = time.perf_counter()
    results = check_estimator(kind(epochs=40, learning_rate=0.05, batch_size=1024),
                              on_skip=None, on_fail=None)
    failed = {r["check_name"]: repr(r["exception"])[:500]
              for r in results if r["status"] == "failed"}
    print("RESULT " + json.dumps({"checks": len(results), "failed": failed,
                                  "seconds": round(time.perf_counter() - started, 1)}))
""")
KINDS = ("Classifier", "Regressor")


@pytest.fixture(scope="module", autouse=True)
def estimator_checks(request, tmp_path_factory):
    """Start check_estimator of both estimators in the background, if its test is selected."""
    if not any(getattr(item, "originalname", "") == "test_check_estimator_passes"
               for item in request.session.items):
        yield None
        return
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
           "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax-cache")),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    procs = {kind: subprocess.Popen([sys.executable, "-c", CHECK, kind], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for kind in KINDS}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def test_cross_val_score_in_a_pipeline(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), Classifier(epochs=30, learning_rate=0.01, batch_size=25))
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,)
    assert scores.mean() > 0.85


def test_grid_search_over_learning_rate(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), Classifier(epochs=10, batch_size=25))
    search = GridSearchCV(pipe, {"classifier__learning_rate": [0.0001, 0.05]},
                          cv=StratifiedKFold(2, shuffle=True, random_state=0))
    search.fit(X, y)
    # ten epochs at 1e-4 barely move the weights; at 0.05 iris is learnt
    assert search.best_params_ == {"classifier__learning_rate": 0.05}
    assert search.best_score_ > 0.85
    assert search.best_estimator_[-1].learning_rate == 0.05
    assert search.predict(X[:5]).shape == (5,)


def test_string_labels_round_trip_and_pickle(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = make_pipeline(StandardScaler(), Classifier(epochs=30, learning_rate=0.01, batch_size=25))
    clf.fit(X, names)
    net = clf[-1]
    assert net.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    predicted = clf.predict(X)
    assert predicted.dtype == names.dtype and set(predicted) <= set(names)
    assert np.mean(predicted == names) > 0.85
    proba = clf.predict_proba(X[:7])
    assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert net.n_features_in_ == 4 and net.model_.output_shape == (None, 3)
    assert len(net.history_["loss"]) == net.n_iter_ == 30
    # a fitted estimator pickles as weights and specs, and predicts the same after
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    # clone keeps the parameters and drops what was learnt
    fresh = clone(net)
    assert fresh.get_params() == net.get_params() and not hasattr(fresh, "model_")


def test_binary_labels_and_layer_dicts():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = Classifier(hidden=[{"units": 16, "activation": "tanh", "dropout": 0.1}, 8],
                     epochs=20, learning_rate=0.02, patience=3, validation_split=0.2)
    clf.fit(X, y)
    assert clf.model_.output_shape == (None, 1)  # one sigmoid unit for two classes
    assert clf.score(X, y) > 0.9
    assert "val_loss" in clf.history_ and clf.n_iter_ <= 20
    assert clf.predict_proba(X).shape == (200, 2)


@pytest.mark.parametrize("engine", ["fit", "fleet"])
def test_regressor_learns_a_function(engine):
    X = np.linspace(-2, 2, 256).reshape(-1, 1)
    y = np.sin(X[:, 0]) + 0.5 * X[:, 0]
    reg = Regressor(hidden=((32, "tanh"),), epochs=60, learning_rate=0.01, engine=engine).fit(X, y)
    assert reg.predict(X).shape == (256,)
    assert reg.score(X, y) > 0.95
    if engine == "fit":  # a 2-D y trains one output per column and predicts 2-D
        Y = np.column_stack([y, -y])
        reg2 = Regressor(hidden=((32, "tanh"),), epochs=60, learning_rate=0.01).fit(X, Y)
        assert reg2.predict(X).shape == (256, 2)
        assert reg2.score(X, Y) > 0.95


@pytest.mark.parametrize("params, match", [
    ({"epochs": 0}, "^epochs: got 0"),
    ({"optimizer": "adamm"}, "^optimizer: .*did you mean `adam`"),
    ({"hidden": [{"units": 0}]}, r"^hidden\[0\].units: got 0"),
    ({"hidden": [(20, "relu"), "wide"]}, r"hidden\[1\]: got 'wide'"),
    ({"hidden": [{"unit": 5}]}, "did you mean `units`"),
    ({"engine": "fast"}, "engine: unknown value `fast`"),
    ({"learning_rate": "high"}, "learning_rate: got 'high'; expected a number"),
])
def test_bad_parameters_fail_at_fit_with_value_error(params, match):
    clf = Classifier(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        clf.fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="only one class"):
        Classifier().fit(np.zeros((4, 2)), ["a"] * 4)


def test_docstring_examples_run():
    import doctest

    import denselab.estimators

    result = doctest.testmod(denselab.estimators)
    assert result.failed == 0 and result.attempted >= 6


@pytest.mark.parametrize("kind", KINDS)
def test_check_estimator_passes(estimator_checks, kind):
    """scikit-learn's whole estimator check suite, with no expected failures."""
    output, _ = estimator_checks[kind].communicate(timeout=400)
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["failed"] == {}
    assert result["checks"] > 40  # (the sample-weight checks do not apply: fit takes no weights)
