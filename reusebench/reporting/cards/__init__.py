"""Model cards of trained runs: the task and reuse metrics of a run as a Hugging Face card.

- :mod:`reusebench.reporting.cards.content`: pure functions from a run's metric row, pairs,
  curves and provenance (Study A) or summary (Study B) to the card's fields, a JSON-ready dict.
- :mod:`reusebench.reporting.cards.render`: that dict as a ``README.md`` whose YAML front matter is
  built and checked by ``huggingface_hub`` (offline), and the run's curves figure.
- :mod:`reusebench.reporting.cards.build`: run folders and metric tables in, card files out (one run
  for ``reusebench card``, every run of a study for the workflow rule).
"""
