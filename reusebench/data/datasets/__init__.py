"""Synthetic data sets generated offline, deterministically by seed."""
