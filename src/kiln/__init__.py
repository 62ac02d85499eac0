"""Kiln: a self-hosted ML platform that speaks the SageMaker wire protocols."""

__version__ = "0.1.0"
