"""Reporting: paper tables and figures by study, model cards, recommend, the scorecard and
the report digests. Reads what training wrote; imports data and core, never training."""
