"""Metrics, cross-validation, statistics and diagnosis."""
