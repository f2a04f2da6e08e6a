"""Study A segmentation models and training (torchvision architectures and a small U-Net)."""

from reusebench.training.seg.models import (
           ARCHS,
           build_model,
           load_pretrained,
           load_torchvision_coco,
)
from reusebench.training.seg.train import pretrain_run, train_run

__all__ = ["ARCHS", "build_model", "load_pretrained", "load_torchvision_coco", "pretrain_run",
           "train_run"]
