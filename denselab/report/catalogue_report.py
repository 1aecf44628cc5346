"""Figures of the catalogue study's page that are not shared with other pages.

`linear_maps`: the lecture's figure "linear activations give linear decisions no matter
the network size" as decision maps, the identity-activation net beside a relu net of the
same size on the same rows (fold 0's trained nets).
"""

from __future__ import annotations

import numpy as np

from denselab.models.build import build_model
from denselab.report import plots


def _predictor(spec, head, weights, pre, n_features: int):
    model = build_model(spec, head, n_features)
    model.set_weights(weights)

    def predict(points):
        out = np.asarray(model.predict(pre.transform(points).astype(np.float32), verbose=0, batch_size=8192))
        return np.concatenate([1 - out, out], axis=1) if head.binary and out.shape[1] == 1 else out
    return predict


def linear_maps(nets: dict) -> list:
    """One decision map per (2-D data set, activation) of `nets` {(data, activation): (model spec, head,
    weights, preprocessor, dataset, fold accuracy)}; titles name the data set, the activation and the score."""
    figures = []
    for (label, activation), (spec, head, weights, pre, ds, score) in sorted(nets.items()):
        fig = plots.decision_boundary(_predictor(spec, head, weights, pre, ds.x_train.shape[1]), ds.x_train,
                                      ds.y_train, list(ds.classes), ds.feature_names)
        fig.axes[0].set_title(f"{label}: Dense 20 → 20 {activation}, fold 0 (held-out accuracy {score:.3f})")
        figures.append(fig)
    return figures
