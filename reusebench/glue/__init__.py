"""Glue: the command line, the helpers the workflow's rules and scripts call, config and
device checks, recovery after a kill. Imports any layer; nothing imports it."""
