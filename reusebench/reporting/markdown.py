"""Markdown tables without extra dependencies."""

from __future__ import annotations

import numpy as np
import pandas as pd


def format_value(value: object, digits: int = 4) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.{digits}g}"
    if value is None or value is pd.NA:
        return ""
    return str(value)


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of every row and column (``|`` in a cell escaped)."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = ["| " + " | ".join(format_value(value, digits).replace("|", "\\|") for value in row)
            + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"
