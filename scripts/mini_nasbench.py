"""Rule mini_nasbench: train sampled NAS-Bench-101 cells, write NAS-Bench-101 records and the
per-epoch curves of each cell's longest-budget runs."""

from reusebench.core.extras import require
from reusebench.data.datasets.cifar_like import make_cifar_like
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    mini_module = require("seg", "reusebench.training.nasbench.mini")
    MiniSettings = mini_module.MiniSettings
    sample_cells = mini_module.sample_cells
    train_mini_nasbench = mini_module.train_mini_nasbench
    mini = snakemake.params.settings
    data = make_cifar_like(mini["n_classes"], mini["n_train"], mini["n_test"], mini["seed"],
                           image_size=mini["image_size"])
    settings = MiniSettings(stem_channels=mini["stem_channels"], n_stacks=mini["n_stacks"],
                            cells_per_stack=mini["cells_per_stack"],
                            batch_size=mini["batch_size"], num_threads=snakemake.threads)
    cells = sample_cells(mini["n_cells"], mini["seed"])
    out = snakemake.output
    count = train_mini_nasbench(cells, mini["budgets"], mini["repeats"], data, settings,
                                out.records, mini["seed"], curves_path=out.curves)
    log.info("%d records of %d cells -> %s; per-epoch curves of %d epochs -> %s", count,
             len(cells), out.records, max(mini["budgets"]), out.curves)
