"""The reference engine: one `keras.Model.fit` per member, exactly as a tutorial would.

Slow by design (Keras's per-step overhead, one compile per model), kept as the
ground truth the fleet is tested against and as the fallback for layers the fleet
does not carry.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from denselab.models import losses, optimizers
from denselab.models.build import Head, build_model
from denselab.train import limits
from denselab.train.engine import EngineResult, Member, MemberResult, apply_hparams, member_head, metric_value


def compile_model(model: keras.Model, train, head: Head, learning_rate: float | None = None) -> keras.Model:
    """Compile `model` with the spec's optimizer, the head's loss and metric."""
    metrics = ["accuracy"] if head.task == "classification" else ["mse"]
    if head.binary:
        metrics = [keras.metrics.BinaryAccuracy(name="accuracy")]
    model.compile(optimizer=optimizers.make(train, learning_rate),
                  loss=losses.function(head.loss), metrics=metrics)
    return model


def train_members(model_spec, train_spec, head: Head, members: list[Member], progress=None) -> EngineResult:
    """Train each member with `model.fit` (see `engine.py` for the contract)."""
    results = []
    started = time.perf_counter()
    total = len(members) * train_spec.epochs
    for i, member in enumerate(members):
        spec_m, train_m = apply_hparams(model_spec, train_spec, member.hparams)
        own = member_head(head, spec_m, train_m, member.hparams)  # its own output activation and loss
        keras.utils.set_random_seed(member.seed)
        model = compile_model(build_model(spec_m, own, member.x_train.shape[1:]), train_m, own)
        if i == 0:  # before the first fit: what all members will keep must fit in memory
            limits.check(train_spec.epochs, len(members), model.count_params(),
                         max(len(m.x_eval) for m in members), own.n_outputs)
        has_val = member.x_val is not None
        x_val, y_val = (member.x_val, member.y_val) if has_val else (member.x_eval, member.y_eval)
        validation = (x_val, y_val) if len(x_val) else None  # no rows to watch: no val_ curves
        callbacks = [_Progress(progress, i * train_spec.epochs, total)] if progress else []
        if train_spec.patience and has_val:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=train_spec.patience, restore_best_weights=True))
        fitted = model.fit(member.x_train, member.y_train, validation_data=validation,
                           epochs=train_spec.epochs, batch_size=train_spec.batch_size,
                           shuffle=True, verbose=0, callbacks=callbacks)
        history = {k: [float(v) for v in vals] for k, vals in fitted.history.items()}
        watched = history.get("val_loss", history["loss"])
        best = int(np.argmin(watched)) if (train_spec.patience and has_val) else len(watched) - 1
        predictions = model.predict(member.x_eval, verbose=0, batch_size=1024) if len(member.x_eval) else \
            np.zeros((0, own.n_outputs), np.float32)
        scores = score(own, member.y_eval, predictions)
        results.append(MemberResult(history=history, scores=scores, predictions=predictions,
                                    weights=model.get_weights(), best_epoch=best,
                                    epochs_run=len(watched)))
    return EngineResult(results=results, engine="fit", run_s=time.perf_counter() - started)


def score(head: Head, y_true: np.ndarray, predictions: np.ndarray) -> dict:
    """The eval rows' loss and metric from predictions (empty rows → NaN)."""
    if len(y_true) == 0:
        return {"loss": float("nan"), head.metric: float("nan")}
    loss = float(np.mean(keras.ops.convert_to_numpy(losses.function(head.loss)(y_true, predictions))))
    return {"loss": loss, head.metric: metric_value(head, y_true, predictions)}


class _Progress(keras.callbacks.Callback):
    def __init__(self, report, offset: int, total: int):
        super().__init__()
        self.report, self.offset, self.total = report, offset, total

    def on_epoch_end(self, epoch, logs=None):
        from denselab.progress import publish

        publish(logs or {})
        self.report(self.offset + epoch + 1, self.total)
