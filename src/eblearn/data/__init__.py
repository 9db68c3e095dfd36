"""Data: the dataset registry, in-memory image sets and batched multi-view augmentations."""

from eblearn.data import (  # noqa: F401  (register loaders)
    digits,
    files,
    tar_shards,
    text,
    torchvision_sets,
)
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
from eblearn.data.masking import TokenMask, apply_token_mask, draw_token_mask
from eblearn.data.registry import DATASETS, DatasetRequest, load_dataset, modality_of
from eblearn.data.text import TEXT_DATASETS, TextSplits, load_text
from eblearn.data.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer
from eblearn.data.torchvision_sets import DatasetFilesMissingError

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "TEXT_DATASETS",
    "UNLABELED",
    "BPETokenizer",
    "CharTokenizer",
    "DatasetFilesMissingError",
    "DatasetRequest",
    "DatasetSplits",
    "EvalTransform",
    "ImageSet",
    "MultiViewAugment",
    "TextSplits",
    "TokenMask",
    "ViewRecipe",
    "WordTokenizer",
    "apply_token_mask",
    "augment_view",
    "byol_views",
    "default_augmentation",
    "digit_views",
    "draw_token_mask",
    "grid_patches",
    "jigsaw",
    "load_dataset",
    "load_text",
    "modality_of",
    "shuffle_patches",
    "simclr_views",
    "stratified_split",
    "to_labels",
    "to_uint8_images",
]
