"""Study B: accuracy, time and size trade-offs of Keras classifiers (Arı and Çamlı, 2022).

How a Study B run is written in the curve table (``reusebench.core.curves``), whose run keys
are fixed:

- ``study``: ``"B"``.
- ``dataset``: the dataset name (``synth10``, ``synth100``, ``cifar10``, ``cifar100`` or a
  name from ``study_b.files``) when the run uses the dataset's own train/test split, else the
  name plus the split ratio, e.g. ``cifar100-70-30`` (train and test pooled, then re-split
  70 % / 30 % per class).
- ``arch``: the Keras application (``resnet50``, ``resnet101``, ``vgg16``, ``vgg19``,
  ``efficientnetb0``).
- ``init``: the technique (grammar in :mod:`reusebench.core.tradeoff_runs`): ``base`` (every layer
  trained), ``top1`` / ``top10`` / ``top{N}`` (unfreezing), ``fp16``, ``cluster{K}``, ``m2m``,
  the last three optionally with an unfreezing suffix such as ``fp16-top10``.
- ``lr``, ``seed``: Adam's learning rate and the run's seed; ``device``: the device wildcard
  (``cpu``, ``gpu``, ``gpu:N`` or a GPU model name such as ``v100``).

Per epoch the table holds ``train_loss`` (mean over the epoch's mini-batches), ``test_loss``
(a full pass over the test set after the epoch), ``train_accuracy``, ``test_accuracy``,
``epoch_seconds``, ``eval_seconds`` and, on a GPU, ``gpu_mem_max_mb``.

The parts without TensorFlow live in the other layers (run grammar and OpScore in core,
data in data, tables and figures in reporting); the modules here import TensorFlow through
:mod:`reusebench.training.keras.backend`.
"""
