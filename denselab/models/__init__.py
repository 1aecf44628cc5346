"""Models: name registries (activations, losses, optimizers, initializers) and spec → keras.Model."""
