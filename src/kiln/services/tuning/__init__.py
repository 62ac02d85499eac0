"""Hyperparameter tuning jobs on Optuna (ask-and-tell), driven from Kiln's own state."""
