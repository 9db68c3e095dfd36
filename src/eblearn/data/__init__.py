"""Data: the dataset registry, in-memory image sets and batched multi-view augmentations."""

from eblearn.data import digits, files, torchvision_sets  # noqa: F401  (register loaders)
from eblearn.data.augment import (
    AUGMENTATIONS,
    EvalTransform,
    MultiViewAugment,
    ViewRecipe,
    augment_view,
    byol_views,
    default_augmentation,
    digit_views,
    simclr_views,
)
from eblearn.data.images import (
    UNLABELED,
    DatasetSplits,
    ImageSet,
    stratified_split,
    to_labels,
    to_uint8_images,
)
from eblearn.data.jigsaw import grid_patches, jigsaw, shuffle_patches
from eblearn.data.registry import DATASETS, DatasetRequest, load_dataset
from eblearn.data.torchvision_sets import DatasetFilesMissingError

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "UNLABELED",
    "DatasetFilesMissingError",
    "DatasetRequest",
    "DatasetSplits",
    "EvalTransform",
    "ImageSet",
    "MultiViewAugment",
    "ViewRecipe",
    "augment_view",
    "byol_views",
    "default_augmentation",
    "digit_views",
    "grid_patches",
    "jigsaw",
    "load_dataset",
    "shuffle_patches",
    "simclr_views",
    "stratified_split",
    "to_labels",
    "to_uint8_images",
]
