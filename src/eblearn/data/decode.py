"""Image files to pixels: finding them, opening them as RGB, resizing them to a square.

Shared by the in-memory loaders (:mod:`eblearn.data.files`, which decode every file once) and
the streaming data set (:mod:`eblearn.data.streaming`, which decodes each file when a batch
asks for it), so that both read a file into the same ``uint8`` pixels.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""Suffixes (any case) of the files an image folder is made of."""


class Unusable(Exception):
    """An image file that cannot be used; the message says why, in a few words."""


def open_rgb(path: Path) -> Any:
    """The image at ``path`` as an RGB PIL image; 16-bit gray is scaled to 8 bits.

    Raises:
        Unusable: If the file is empty, not an image, truncated or corrupt, or of a pixel
            format eblearn does not convert (32-bit integers, floats).
    """
    try:
        empty = path.stat().st_size == 0
    except OSError as error:
        raise Unusable(f"cannot be opened: {type(error).__name__}: {error}") from None
    if empty:
        raise Unusable("empty file")
    return _rgb(path)


def rgb_from_bytes(data: bytes) -> Any:
    """An image file's bytes (a tar member, say) as an RGB PIL image, as :func:`open_rgb`.

    Raises:
        Unusable: As :func:`open_rgb`.
    """
    if not data:
        raise Unusable("empty file")
    return _rgb(io.BytesIO(data))


def _rgb(source: Any) -> Any:
    """Decodes ``source`` (a path or a binary file object) to RGB, or raises :class:`Unusable`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as opened:
            opened.load()
            if opened.mode.startswith("I;16"):  # 16-bit gray: 65535 -> 255
                pixels = np.asarray(opened, dtype=np.float64) / 257.0
                return Image.fromarray(pixels.round().astype(np.uint8)).convert("RGB")
            if opened.mode in ("I", "F"):
                raise Unusable(
                    f"cannot be converted: its pixels are "
                    f"{'32-bit integers' if opened.mode == 'I' else 'floats'} (PIL mode "
                    f"{opened.mode!r}); expected 8-bit or 16-bit images"
                )
            return opened.convert("RGB")
    except Unusable:
        raise
    except UnidentifiedImageError:
        raise Unusable("not an image PIL recognizes") from None
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise Unusable(f"truncated or corrupt: {type(error).__name__}: {error}") from None


def resize_center_crop(picture: Any, size: int) -> Any:
    """Resizes the shorter side of a PIL image to ``size``, then crops the center square."""
    width, height = picture.size
    scale = size / min(width, height)
    picture = picture.resize((max(size, round(width * scale)), max(size, round(height * scale))))
    width, height = picture.size
    left, top = (width - size) // 2, (height - size) // 2
    return picture.crop((left, top, left + size, top + size))


def square_pixels(picture: Any, size: int) -> np.ndarray:
    """A PIL RGB image as ``uint8`` of shape ``(size, size, 3)``, resized and center-cropped."""
    if picture.size != (size, size):
        picture = resize_center_crop(picture, size)
    return np.asarray(picture)


def is_hidden(path: Path, folder: Path) -> bool:
    """Whether a part of ``path`` below ``folder`` starts with '.' (``.ipynb_checkpoints``,
    macOS's ``._photo.jpg``)."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder``, at any depth, sorted; hidden ones are skipped."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not is_hidden(p, folder)
    )


FILE_LIST_EXPECTED = "expected a text file with one image path per line"


def listed_files(path: Path) -> list[Path]:
    """The files a file list names, one path per line, in order.

    A relative path is read from the list's folder; ``~`` is expanded. Blank lines and lines
    starting with ``#`` are skipped (a ``#`` later in a line is part of the file name).

    Raises:
        ValueError: Naming the list and the line: the list is a folder or not UTF-8 text,
            names no file, or names a file that does not exist (or is a folder).
    """
    if path.is_dir():
        raise ValueError(
            f"filelist path {str(path)!r} is a folder; {FILE_LIST_EXPECTED} (for a folder of "
            "images, use imagefolder:PATH)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"file list {str(path)!r} is not UTF-8 text; {FILE_LIST_EXPECTED}"
        ) from None
    except OSError as error:
        raise ValueError(
            f"file list {str(path)!r} cannot be read ({error}); {FILE_LIST_EXPECTED}"
        ) from None
    files = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        file = Path(entry).expanduser()
        if not file.is_absolute():
            file = path.parent / file
        if not file.is_file():
            problem = "is a folder, not an image file" if file.is_dir() else "does not exist"
            raise ValueError(
                f"file list {str(path)!r}, line {number}: {entry!r} ({str(file)!r}) {problem}; "
                "relative paths are read from the list's folder"
            )
        files.append(file)
    if not files:
        raise ValueError(
            f"file list {str(path)!r} names no image file; {FILE_LIST_EXPECTED} (blank lines "
            "and lines starting with '#' are skipped)"
        )
    return files
