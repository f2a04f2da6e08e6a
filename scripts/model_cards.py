"""Rule model_cards: the model card of every trained run of one study, and their index."""

from pathlib import Path

from reusebench.glue.workflow import logged
from reusebench.reporting.cards.build import write_study_cards

with logged(snakemake.log[0]) as log:
    run_dirs = [Path(path).parent for path in snakemake.input.curves]
    cards = write_study_cards(run_dirs, snakemake.input.metrics, snakemake.output.cards,
                              snakemake.output.index, snakemake.input.get("runs"),
                              snakemake.input.get("forecast") or None)
    log.info("%d model cards -> %s", len(cards), snakemake.output.cards)
