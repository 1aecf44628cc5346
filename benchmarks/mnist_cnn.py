"""The workshop's MNIST CNN, as the workshop trained it (Adagrad 0.01, batch 100, 5 epochs).

Not part of the tests: it needs `~/.keras/datasets/mnist.npz`, which denselab never
downloads. On a machine with internet access, `python -c "import keras;
keras.datasets.mnist.load_data()"` saves it; copy it here. Prints `mnist_test_accuracy:`
(the workshop reached > 98 %) and `seconds:`.

    python benchmarks/mnist_cnn.py [--engine fleet|fit]
"""

import argparse
import sys
import time

import denselab  # noqa: F401  (sets the JAX backend)
from denselab.studies import workshop
from denselab.train.evaluate import holdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["fleet", "fit"], default="fleet")
    args = parser.parse_args()
    path = workshop.mnist_path()
    if not path.exists():
        print(f"mnist: `{path}` is missing; see this file's docstring for how to get it", file=sys.stderr)
        return 2
    exp = workshop.cnn_experiment("mnist", "digit", workshop.MNIST_TRAIN, False, (28, 28, 1))
    ds = workshop.load_mnist(path, quick=False)
    started = time.perf_counter()
    result = holdout(exp, ds, engine=args.engine)
    print(f"engine: {result.engine}")
    print(f"mnist_test_accuracy: {result.scores['accuracy']:.4f}")
    print(f"seconds: {time.perf_counter() - started:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
