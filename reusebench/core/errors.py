"""The one exception type for bad input: its message is a single sentence for the user."""


class InputError(ValueError):
    """Bad input (a file, a column, a config key); the message names it in one sentence."""
