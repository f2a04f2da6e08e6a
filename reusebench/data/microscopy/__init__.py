"""Segmentation data sets of Study A: synthetic microscopy, folders of real images, NIST A10.

Every data set, synthetic or real, becomes a :class:`SegmentationData` (``dataset``) and
travels between pipeline steps as one ``.npz`` (:func:`save_dataset` / :func:`load_dataset`,
``store``). ``synthetic`` generates images from a contrast preset, ``folder`` reads
image/mask pairs, ``a10`` downloads the A10 archive; Table 4 over the data sets is
:func:`reusebench.reporting.study_a.tables.table4`.
"""

from reusebench.data.microscopy.a10 import A10_SOURCE, fetch_a10, unpack
from reusebench.data.microscopy.dataset import SegmentationData, check_dataset, split_indices
from reusebench.data.microscopy.folder import load_folder, require_folder, subset_indices, tile_pair
from reusebench.data.microscopy.store import NPZ_KEYS, load_dataset, save_dataset
from reusebench.data.microscopy.synthetic import PRESETS, preset_dataset, synthetic_microscopy

__all__ = ["A10_SOURCE", "NPZ_KEYS", "PRESETS", "SegmentationData", "check_dataset", "fetch_a10",
           "load_dataset", "load_folder", "preset_dataset", "require_folder", "save_dataset",
           "split_indices", "subset_indices", "synthetic_microscopy", "tile_pair", "unpack"]
