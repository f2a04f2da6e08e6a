"""Convergence forecasts: learning-curve families, batched fits, forecasts with intervals
and their backtest."""
