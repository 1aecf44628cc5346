"""Training engines (fleet, fit) and evaluation (cross-validation, holdout)."""
