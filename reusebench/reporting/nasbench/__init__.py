"""NAS-Bench-101 analysis: the Study A metrics over NAS cells, claims and figures."""
