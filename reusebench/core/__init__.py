"""Core: the curve table, the metric registry, metrics and fits, pairs, evidence, OpScore and
the Study B run grammar. numpy, pandas and scipy only; imports no other layer."""
