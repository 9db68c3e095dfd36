"""``eblearn embed`` and ``eblearn neighbors``: the everyday uses of a trained encoder.

Both encode every image of a data set with a run's encoder (:func:`~eblearn.app.export.
load_encoder`: the backbone after the run's evaluation transform), in one order: the
``train`` split, then ``test``, then ``unlabeled`` where the data set has one. Row ``i`` of
``embed``'s output is image ``i`` of that order, and ``neighbors`` names images by it.

- ``embed`` writes the features ``(N, D)``: ``.npy`` (float32), or ``.parquet`` (extra
  ``eblearn[embed]``) with one row per image: ``index``, ``split``, ``split_index``, ``label``
  (-1 where unknown), ``class``, ``path`` (when the data set carries file names) and
  ``features`` (a fixed-size list of D float32).
- ``neighbors`` draws, for each query image, its ``k`` nearest images by cosine similarity
  of the features (a query taken from the data is not its own neighbor); with
  ``--duplicates T`` it lists instead every pair of images whose cosine similarity is at
  least ``T``, most similar first, as a CSV table.

Cosine similarity: ``cos(a, b) = a·b / (||a|| ||b||)``, 1 for features pointing the same way.

The images are normalized with the run's saved statistics (:mod:`eblearn.app.data_stats`),
and the run's own data is decoded at the side it was trained at. A streamed run's data, or
any image folder or file list with ``--stream``, is not decoded into memory: the files are
encoded batch by batch in DataLoader workers and only the features are kept
(:mod:`eblearn.app.stream_rows`); its rows are the readable files, in file order, unlabeled.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn._io import atomic_write_bytes, atomic_write_text
from eblearn.app.data_stats import read_statistics
from eblearn.app.export import (
    Encoder,
    check_output,
    load_backbone,
    load_training_data,
    require_packages,
)
from eblearn.app.options import HelpFormatter, add_strict, non_negative_int, positive_int
from eblearn.app.stream_rows import StreamRows

EMBED_SUFFIXES = (".npy", ".parquet")
DEFAULT_QUERIES = 6
DEFAULT_K = 8
DEFAULT_MAX_PAIRS = 10_000


# --- the math: neighbors and near-duplicates -----------------------------------------------


def cosine_similarity_matrix(queries: Tensor, bank: Tensor) -> Tensor:
    """``S[q, n] = cos(queries[q], bank[n])`` for features ``(Q, D)`` and ``(N, D)``."""
    return F.normalize(queries.float(), dim=1) @ F.normalize(bank.float(), dim=1).T


def nearest_neighbors(
    queries: Tensor, bank: Tensor, k: int, exclude: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The ``k`` rows of ``bank`` most cosine-similar to each query, most similar first.

    Args:
        queries: Features of shape (Q, D).
        bank: Features of shape (N, D).
        k: Neighbors per query, ``1 <= k <= N`` (``N - 1`` with ``exclude``).
        exclude: Optional int64 tensor of shape (Q,): a row of ``bank`` that may not be the
            query's neighbor (the query itself, when it comes from the bank); -1 for none.

    Returns:
        ``(similarity, index)``, each of shape (Q, k).

    Raises:
        ValueError: On mismatched shapes or a ``k`` out of range.

    Example:
        >>> bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
        >>> nearest_neighbors(bank[:1], bank, k=1, exclude=torch.tensor([0]))[1]
        tensor([[2]])
    """
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(
            f"queries (Q, D) and bank (N, D) must share D, got {tuple(queries.shape)} and "
            f"{tuple(bank.shape)}"
        )
    available = len(bank) - (1 if exclude is not None and bool((exclude >= 0).any()) else 0)
    if not 1 <= k <= available:
        raise ValueError(
            f"k must lie in [1, {available}] (the images a query can have as neighbors), got {k}"
        )
    similarity = cosine_similarity_matrix(queries, bank)
    if exclude is not None:
        rows = (exclude >= 0).nonzero().flatten()
        similarity[rows, exclude[rows]] = -torch.inf
    return similarity.topk(k, dim=1)


def near_duplicates(
    features: Tensor, threshold: float, max_pairs: int = DEFAULT_MAX_PAIRS, chunk: int = 1024
) -> tuple[Tensor, Tensor, int]:
    """Pairs ``(a, b)``, ``a < b``, with ``cos(features[a], features[b]) >= threshold``.

    The similarity matrix is computed ``chunk`` rows at a time, so memory stays at
    ``chunk × N``; only the ``max_pairs`` most similar pairs are kept.

    Args:
        features: Features of shape (N, D).
        threshold: Smallest cosine similarity of a pair, in [-1, 1].
        max_pairs: How many pairs to keep at most.
        chunk: Rows of the similarity matrix computed at once.

    Returns:
        ``(pairs, similarity, total)``: int64 pairs of shape (P, 2) and their similarities
        (P,), most similar first (ties by index), and how many pairs passed the threshold in
        all (``P = min(total, max_pairs)``).

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
        >>> pairs, similarity, total = near_duplicates(x, 0.99)
        >>> pairs.tolist(), total
        ([[0, 2]], 1)
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(
            f"the duplicate threshold is a cosine similarity in [-1, 1], got {threshold}"
        )
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
    unit = F.normalize(features.float(), dim=1)
    n = len(unit)
    kept_pairs = torch.empty(0, 2, dtype=torch.int64)
    kept_similarity = torch.empty(0)
    total = 0
    columns = torch.arange(n)
    for start in range(0, n, chunk):
        block = unit[start : start + chunk] @ unit.T  # (c, N)
        rows = torch.arange(start, start + len(block))
        mask = (block >= threshold) & (columns[None, :] > rows[:, None])
        i, j = mask.nonzero(as_tuple=True)
        total += len(i)
        kept_pairs = torch.cat([kept_pairs, torch.stack([i + start, j], dim=1)])
        kept_similarity = torch.cat([kept_similarity, block[i, j]])
        if len(kept_pairs) > max_pairs:
            kept_pairs, kept_similarity = _most_similar(kept_pairs, kept_similarity, max_pairs)
    return (*_most_similar(kept_pairs, kept_similarity, max_pairs), total)


def _most_similar(pairs: Tensor, similarity: Tensor, most: int) -> tuple[Tensor, Tensor]:
    """The ``most`` most similar pairs, sorted by similarity (descending), then ``a``, ``b``."""
    if len(pairs) == 0:
        return pairs, similarity
    n = int(pairs.max()) + 1
    by_index = torch.argsort(pairs[:, 0] * n + pairs[:, 1], stable=True)
    pairs, similarity = pairs[by_index], similarity[by_index]
    order = torch.argsort(similarity, descending=True, stable=True)[:most]
    return pairs[order], similarity[order]


# --- data: one order over the splits -------------------------------------------------------


@dataclass
class ImageRows:
    """The images of a data set in one order: ``train``, ``test``, then ``unlabeled``.

    Attributes:
        parts: ``(split name, ImageSet)`` in order.
    """

    parts: list[tuple[str, Any]]
    offsets: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.offsets = [0]
        for _, images in self.parts:
            self.offsets.append(self.offsets[-1] + len(images))

    @classmethod
    def of(cls, data: Any) -> ImageRows:
        names = ("train", "test", "unlabeled")
        return cls([(n, getattr(data, n)) for n in names if getattr(data, n, None) is not None])

    def __len__(self) -> int:
        return self.offsets[-1]

    @property
    def channels(self) -> int:
        return int(self.parts[0][1].images.shape[1])

    def order(self) -> str:
        """The rows' splits and counts, as ``embed`` prints them."""
        return ", then ".join(f"{name} ({len(images)})" for name, images in self.parts)

    def locate(self, index: int) -> tuple[str, int]:
        """``(split, index within the split)`` of row ``index``."""
        for (name, _), start, end in zip(self.parts, self.offsets, self.offsets[1:]):
            if start <= index < end:
                return name, index - start
        raise IndexError(f"row {index} out of range for {len(self)} images")

    def image(self, index: int) -> Tensor:
        """The ``uint8`` image ``(C, H, W)`` of row ``index``."""
        name, inner = self.locate(index)
        return dict(self.parts)[name].images[inner]

    def label(self, index: int) -> tuple[int, str | None]:
        """The label of row ``index`` (-1 where unknown) and its class name."""
        name, inner = self.locate(index)
        images = dict(self.parts)[name]
        label = int(images.labels[inner])
        classes = images.classes
        return label, (classes[label] if 0 <= label < len(classes) else None)

    def paths(self) -> list[str] | None:
        """The file of every row where every split carries file names (``ImageSet.paths``),
        else ``None``."""
        found: list[str] = []
        for _, images in self.parts:
            if len(images.paths) != len(images):
                return None
            found += images.paths
        return found

    def features(self, encoder: Encoder, batch_size: int) -> Tensor:
        """Features ``(N, D)`` of every row, in order."""
        return torch.cat([encoder(images.images, batch_size) for _, images in self.parts])


Rows = ImageRows | StreamRows
"""The images ``embed`` and ``neighbors`` encode: decoded in memory, or files on disk."""


def _prepare_encoder(
    run_dir: str | os.PathLike[str],
    data_spec: str | None,
    data_root: str | os.PathLike[str] | None,
    download: bool,
    strict: bool = False,
    stream: bool = False,
    workers: int | None = None,
) -> tuple[Encoder, Rows, str]:
    """The run's encoder and the rows of ``data_spec`` (default: the run's data), checked.

    The transform normalizes with the statistics saved in the run folder; an older run's
    training data is read again, as it was trained, to recompute them. The run's own data is
    decoded at its saved decoding side (an image folder's native size), other data at the
    run's image size. The rows are streamed (:class:`StreamRows`) with ``stream``, or when
    the data is a streamed run's own. ``strict`` (or a run trained ``strict``) refuses
    unreadable image files of the rows' data instead of skipping them.
    """
    from eblearn.data.augment import EvalTransform
    from eblearn.data.registry import load_dataset

    backbone, config = load_backbone(run_dir)
    spec = data_spec if data_spec is not None else config.data
    root = data_root if data_root is not None else config.data_root
    same = spec == config.data
    stream = stream or (same and config.stream)
    stats = read_statistics(run_dir)
    training = None
    if stats is None:  # an older run: its statistics come from its data, read again
        training = load_training_data(config, data_root, download, strict and same)
    normalization: Any = stats if stats is not None else training
    size = stats.image_size if same and stats is not None else config.image_size
    strictly = strict or config.strict
    rows: Rows
    if same and not stream and training is not None and training.stream is None:
        rows = ImageRows.of(training)
    else:
        data = load_dataset(spec, root, download, size, strict=strictly, stream=stream)
        if data.stream is not None:
            rows = StreamRows(data.stream, strictly, workers)
        else:
            rows = ImageRows.of(data)
    if rows.channels != backbone.in_channels:
        raise ValueError(
            f"the run's encoder takes {backbone.in_channels}-channel images, but {spec!r} has "
            f"{rows.channels}-channel images; use data with {backbone.in_channels} channel(s)"
        )
    transform = EvalTransform(config.image_size, normalization.mean, normalization.std)
    return Encoder(backbone, transform, config, Path(run_dir)), rows, spec


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- embed ----------------------------------------------------------------------------------


@dataclass
class EmbedResult:
    """What :func:`embed_run` wrote: the file, the feature matrix's shape, the data's rows."""

    path: Path
    shape: tuple[int, int]
    rows: Rows
    columns: list[str]


def embed_run(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    data_spec: str | None = None,
    *,
    overwrite: bool = False,
    data_root: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = 256,
    strict: bool = False,
    stream: bool = False,
    workers: int | None = None,
) -> EmbedResult:
    """Writes the features of every image of ``data_spec`` (``eblearn embed``), atomically.

    Args:
        run_dir: A folder written by ``eblearn train``.
        out: A ``.npy`` or ``.parquet`` file (see the module docstring).
        data_spec: The data to encode (default: the run's training data set).
        overwrite: Replace an existing ``out``.
        data_root: Folder of downloadable data sets (default: the run's).
        download: Allow downloading a missing data set.
        batch_size: Images encoded at once.
        strict: Refuse image files that cannot be decoded instead of skipping them (with a
            warning); a skipped file has no row.
        stream: Encode an image folder or file list batch by batch from disk, holding only
            the features (a streamed run's own data is streamed anyway).
        workers: DataLoader workers decoding a stream (default: the CPUs but one).

    Raises:
        ValueError: On a bad suffix, an existing ``out`` (without ``overwrite``), a run
            folder or data set that does not load (or, with ``strict``, holds unreadable
            image files), or images with the wrong channel count; nothing is written.
        ImportError: For ``.parquet`` without pyarrow (extra ``eblearn[embed]``).
    """
    path = Path(out)
    check_output(path, overwrite, EMBED_SUFFIXES)
    if path.suffix.lower() == ".parquet":
        require_packages(["pyarrow"], "writing .parquet", "embed")
    encoder, rows, _ = _prepare_encoder(
        run_dir, data_spec, data_root, download, strict, stream, workers
    )
    encoder.module.to(_device())
    features = rows.features(encoder, batch_size).numpy()
    columns: list[str] = []
    if path.suffix.lower() == ".npy":
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, features)
        atomic_write_bytes(buffer.getvalue(), path)
    else:
        columns = _write_parquet(features, rows, path)
    return EmbedResult(path, (int(features.shape[0]), int(features.shape[1])), rows, columns)


def _write_parquet(features: Any, rows: Rows, path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    located = [rows.locate(i) for i in range(len(rows))]
    labels = [rows.label(i) for i in range(len(rows))]
    columns: dict[str, Any] = {
        "index": pa.array(range(len(rows)), pa.int64()),
        "split": pa.array([s for s, _ in located], pa.string()),
        "split_index": pa.array([i for _, i in located], pa.int64()),
        "label": pa.array([label for label, _ in labels], pa.int64()),
        "class": pa.array([name for _, name in labels], pa.string()),
    }
    paths = rows.paths()
    if paths is not None:
        columns["path"] = pa.array(paths, pa.string())
    flat = pa.array(features.reshape(-1), pa.float32())
    columns["features"] = pa.FixedSizeListArray.from_arrays(flat, int(features.shape[1]))
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    atomic_write_bytes(buffer.getvalue(), path)
    return list(columns)


# --- neighbors ------------------------------------------------------------------------------


def read_query_image(path: str | os.PathLike[str], channels: int, size: int) -> Tensor:
    """An image file as ``uint8`` ``(channels, size, size)``: shorter side resized, center
    cropped.

    Raises:
        ValueError: If the file does not exist or is not an image PIL can decode.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"query image {str(path)!r} does not exist")
    try:
        with Image.open(path) as opened:
            picture = opened.convert("L" if channels == 1 else "RGB")
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise ValueError(
            f"query image {str(path)!r} is unreadable ({type(error).__name__}: {error}); "
            "expected an image file PIL can decode"
        ) from None
    width, height = picture.size
    scale = size / min(width, height)
    picture = picture.resize((max(size, round(width * scale)), max(size, round(height * scale))))
    width, height = picture.size
    left, top = (width - size) // 2, (height - size) // 2
    picture = picture.crop((left, top, left + size, top + size))
    import numpy as np

    array = np.asarray(picture, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def default_queries(n_images: int, n_queries: int) -> Tensor:
    """``n_queries`` rows spread evenly over ``n_images`` (first and last included).

    Example:
        >>> default_queries(10, 4).tolist()
        [0, 3, 6, 9]
    """
    n_queries = min(n_queries, n_images)
    return torch.linspace(0, n_images - 1, n_queries).round().long().unique()


@dataclass
class NeighborsResult:
    """What :func:`neighbors_run` wrote.

    Attributes:
        path: The PNG grid or the CSV table.
        index: Neighbors' rows, shape (Q, k) (grid only).
        similarity: Their cosine similarities, shape (Q, k) (grid only).
        pairs: Near-duplicate pairs, shape (P, 2) (``--duplicates`` only).
        pair_similarity: Their cosine similarities, shape (P,).
        total_pairs: Pairs above the threshold in all (``P`` may be fewer).
        table: The first pairs as printed text.
    """

    path: Path
    index: Tensor | None = None
    similarity: Tensor | None = None
    pairs: Tensor | None = None
    pair_similarity: Tensor | None = None
    total_pairs: int = 0
    table: str = ""


def neighbors_run(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    data_spec: str | None = None,
    *,
    queries: Sequence[str | os.PathLike[str]] = (),
    n_queries: int | None = None,
    k: int = DEFAULT_K,
    duplicates: float | None = None,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    overwrite: bool = False,
    data_root: str | os.PathLike[str] | None = None,
    download: bool = False,
    batch_size: int = 256,
    strict: bool = False,
    stream: bool = False,
    workers: int | None = None,
) -> NeighborsResult:
    """Draws each query's nearest images, or lists near-duplicates (``eblearn neighbors``).

    Args:
        run_dir: A folder written by ``eblearn train``.
        out: A ``.png`` grid (one row per query: the query, then its ``k`` neighbors with
            their cosine similarity), or with ``duplicates`` a ``.csv`` table.
        data_spec: The data searched (default: the run's training data set).
        queries: Image files to search for (default: ``n_queries`` images of the data).
        n_queries: How many images of the data to use as queries (default 6).
        k: Neighbors per query.
        duplicates: List the pairs whose cosine similarity is at least this, instead.
        max_pairs: Most pairs written (the most similar).
        overwrite: Replace an existing ``out``.
        data_root: Folder of downloadable data sets (default: the run's).
        download: Allow downloading a missing data set.
        batch_size: Images encoded at once.
        strict: Refuse image files of the data that cannot be decoded instead of skipping
            them (with a warning).
        stream: Encode an image folder or file list batch by batch from disk, holding only
            the features; a neighbor grid decodes the images it draws again.
        workers: DataLoader workers decoding a stream (default: the CPUs but one).

    Raises:
        ValueError: On a bad option or suffix, an existing ``out`` without ``overwrite``,
            unreadable query images, a run folder or data set that does not load (or, with
            ``strict``, holds unreadable image files), or ``k`` beyond the data; nothing is
            written.
    """
    path = Path(out)
    if duplicates is not None:
        if not -1.0 <= duplicates <= 1.0:
            raise ValueError(
                f"--duplicates is a cosine similarity in [-1, 1], got {duplicates} "
                "(0.95 finds near-identical images)"
            )
        if queries or n_queries is not None:
            raise ValueError("--duplicates compares every pair of images: drop --query/--queries")
        check_output(path, overwrite, (".csv",))
    else:
        check_output(path, overwrite, (".png",))
    if queries and n_queries is not None:
        raise ValueError("choose one of --query FILE... (images to search for) and --queries N")
    if n_queries is not None and n_queries < 1:
        raise ValueError(f"--queries must be >= 1, got {n_queries}")
    if k < 1:
        raise ValueError(f"--k must be >= 1, got {k}")
    if max_pairs < 1:
        raise ValueError(f"--max-pairs must be >= 1, got {max_pairs}")
    encoder, rows, _ = _prepare_encoder(
        run_dir, data_spec, data_root, download, strict, stream, workers
    )
    query_images = [read_query_image(q, encoder.in_channels, encoder.image_size) for q in queries]
    _check_k(k, len(rows), queries, duplicates)
    encoder.module.to(_device())
    features = rows.features(encoder, batch_size)
    _check_k(k, len(rows), queries, duplicates)  # a stream's unreadable files have no row
    if duplicates is not None:
        pairs, similarity, total = near_duplicates(features, duplicates, max_pairs)
        table = _write_pairs(pairs, similarity, rows, path)
        return NeighborsResult(
            path, pairs=pairs, pair_similarity=similarity, total_pairs=total, table=table
        )
    if queries:
        query_features = encoder(torch.stack(query_images), batch_size)
        exclude = None
        shown = torch.stack(query_images)
        titles = [Path(q).name for q in queries]
    else:
        chosen = default_queries(len(rows), n_queries or DEFAULT_QUERIES)
        query_features = features[chosen]
        exclude = chosen
        shown = torch.stack([rows.image(int(i)) for i in chosen])
        titles = [_query_title(rows, int(i)) for i in chosen]
    similarity, index = nearest_neighbors(query_features, features, k, exclude)
    png = neighbor_grid_png(shown, titles, index, similarity, rows)
    atomic_write_bytes(png, path)
    return NeighborsResult(path, index=index, similarity=similarity)


def _check_k(
    k: int, n_rows: int, queries: Sequence[str | os.PathLike[str]], duplicates: float | None
) -> None:
    """Raises ``ValueError`` when a query cannot have ``k`` neighbors among ``n_rows``."""
    limit = n_rows - (0 if queries else 1)
    if duplicates is None and k > limit:
        raise ValueError(
            f"--k {k} exceeds the {limit} images a query can have as neighbors in the data"
        )


def _query_title(rows: Rows, index: int) -> str:
    _, name = rows.label(index)
    return f"query #{index}" + (f"\n{name}" if name else "")


def neighbor_grid_png(
    queries: Tensor, titles: Sequence[str], index: Tensor, similarity: Tensor, rows: Rows
) -> bytes:
    """A PNG: one row per query, the query then its neighbors titled by cosine similarity."""
    from eblearn.plot._figure import new_figure

    n_queries, k = index.shape
    figure = new_figure(1.2 * (k + 1), 1.35 * n_queries)
    grid = figure.subplots(n_queries, k + 1, squeeze=False)
    for q in range(n_queries):
        _draw(grid[q][0], queries[q], titles[q], bold=True)
        for j in range(k):
            row = int(index[q, j])
            _, name = rows.label(row)
            caption = f"{float(similarity[q, j]):.3f}" + (f"\n{name}" if name else "")
            _draw(grid[q][j + 1], rows.image(row), caption)
    figure.suptitle("nearest neighbors by cosine similarity of the features", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _draw(axes: Any, image: Tensor, title: str, bold: bool = False) -> None:
    array = image.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        axes.imshow(array[:, :, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(array, interpolation="nearest")
    axes.set_title(title, fontsize=7, fontweight="bold" if bold else "normal")
    axes.set(xticks=[], yticks=[])


PAIR_COLUMNS = (
    "index_a",
    "index_b",
    "cosine",
    "split_a",
    "split_index_a",
    "split_b",
    "split_index_b",
)
SHOWN_PAIRS = 10


def _write_pairs(pairs: Tensor, similarity: Tensor, rows: Rows, path: Path) -> str:
    """Writes the pairs as CSV (atomically); returns the first :data:`SHOWN_PAIRS` as text."""
    paths = rows.paths()
    header = list(PAIR_COLUMNS) + (["path_a", "path_b"] if paths is not None else [])
    lines = []
    for (a, b), cosine in zip(pairs.tolist(), similarity.tolist()):
        split_a, inner_a = rows.locate(a)
        split_b, inner_b = rows.locate(b)
        line = [a, b, f"{cosine:.6f}", split_a, inner_a, split_b, inner_b]
        if paths is not None:
            line += [paths[a], paths[b]]
        lines.append(line)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    atomic_write_text(text.getvalue(), path)
    shown = [f"{'a':>7} {'b':>7} {'cosine':>8}  images"]
    for line in lines[:SHOWN_PAIRS]:
        shown.append(
            f"{line[0]:>7} {line[1]:>7} {line[2]:>8}  {line[3]}[{line[4]}] ~ {line[5]}[{line[6]}]"
        )
    return "\n".join(shown)


# --- command line ---------------------------------------------------------------------------


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by eblearn train")
    parser.add_argument(
        "--data",
        metavar="SPEC",
        default=None,
        help="data to encode, as in eblearn train --data (default: the run's training data)",
    )
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        default=None,
        help="folder of downloadable data sets (default: the run's)",
    )
    parser.add_argument(
        "--download", action="store_true", help="allow downloading a missing data set"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=256, help="images encoded at once"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_strict(parser, default=False)
    parser.add_argument(
        "--stream",
        action="store_true",
        help="encode an imagefolder: or filelist: batch by batch from disk, holding only the "
        "features (for data larger than memory; a streamed run's own data is streamed anyway)",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="DataLoader workers decoding a stream (default: the CPUs but one; 0: this process)",
    )


def add_embed_parser(subparsers: Any) -> None:
    """Adds ``eblearn embed``."""
    parser = subparsers.add_parser(
        "embed",
        help="write the features of a data set's images (.npy or .parquet)",
        description="Encode every image of a data set with a run's encoder and write the "
        "features: rows are the train split, then test, then unlabeled. .npy holds the "
        "(N, D) float32 matrix; .parquet one row per image with index, split, split_index, "
        "label, class, path (where the data set has file names) and features "
        "(pip install 'eblearn[embed]').",
        formatter_class=HelpFormatter,
    )
    _add_data_options(parser)
    parser.add_argument(
        "--out", metavar="FILE", required=True, help="a .npy or .parquet file (required)"
    )
    parser.set_defaults(handler=_embed_command)


def _embed_command(args: argparse.Namespace) -> int:
    result = embed_run(
        args.run_dir,
        args.out,
        args.data,
        overwrite=args.overwrite,
        data_root=args.data_root,
        download=args.download,
        batch_size=args.batch_size,
        strict=args.strict,
        stream=args.stream,
        workers=args.workers,
    )
    print(f"written: {result.path}: features of {result.shape[0]} images × {result.shape[1]}")
    print(f"rows: {result.rows.order()}")
    return 0


NEIGHBORS_EPILOG = """\
examples:
  eblearn neighbors runs/vicreg-digits --out neighbors.png          # 6 images of the data
  eblearn neighbors RUN --data imagefolder:photos --query cat.jpg --k 12 --out cat.png
  eblearn neighbors RUN --data imagefolder:photos --duplicates 0.95 --out duplicates.csv

Rows are numbered as in eblearn embed: the train split, then test, then unlabeled.
"""


def _similarity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a cosine similarity, got {text!r}") from None
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [-1, 1], got {text}")
    return value


def add_neighbors_parser(subparsers: Any) -> None:
    """Adds ``eblearn neighbors``."""
    parser = subparsers.add_parser(
        "neighbors",
        help="draw each query's nearest images, or list near-duplicate pairs",
        description="Find images by the cosine similarity of a run's features: a PNG grid of "
        "each query's k nearest images, or with --duplicates a CSV of every pair at least "
        "that similar.",
        epilog=NEIGHBORS_EPILOG,
        formatter_class=HelpFormatter,
    )
    _add_data_options(parser)
    parser.add_argument(
        "--query",
        metavar="IMAGE",
        nargs="+",
        default=[],
        help="image files to search for (default: --queries images of the data)",
    )
    parser.add_argument(
        "--queries",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"images of the data used as queries, spread evenly (default: {DEFAULT_QUERIES})",
    )
    parser.add_argument("--k", type=positive_int, default=DEFAULT_K, help="neighbors per query")
    parser.add_argument(
        "--duplicates",
        type=_similarity,
        default=None,
        metavar="THRESHOLD",
        help="list instead the pairs whose cosine similarity is >= THRESHOLD (default: off)",
    )
    parser.add_argument(
        "--max-pairs",
        type=positive_int,
        default=DEFAULT_MAX_PAIRS,
        help="most pairs written by --duplicates (the most similar)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        required=True,
        help="a .png grid, or a .csv table with --duplicates (required)",
    )
    parser.set_defaults(handler=_neighbors_command)


def _neighbors_command(args: argparse.Namespace) -> int:
    result = neighbors_run(
        args.run_dir,
        args.out,
        args.data,
        queries=args.query,
        n_queries=args.queries,
        k=args.k,
        duplicates=args.duplicates,
        max_pairs=args.max_pairs,
        overwrite=args.overwrite,
        data_root=args.data_root,
        download=args.download,
        batch_size=args.batch_size,
        strict=args.strict,
        stream=args.stream,
        workers=args.workers,
    )
    if result.pairs is not None:
        kept = len(result.pairs)
        more = f" (the {kept} most similar written)" if kept < result.total_pairs else ""
        print(f"{result.total_pairs} pair(s) with cosine >= {args.duplicates}{more}")
        if kept:
            print(result.table)
    print(f"written: {result.path}")
    return 0
