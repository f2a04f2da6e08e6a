"""Convergence forecasts: where a run ends, predicted from its first N epochs, and backtests."""
