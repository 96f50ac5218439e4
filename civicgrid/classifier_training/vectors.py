"""Embeddings of labelled texts for training, cached on disk by text hash.

Encoding a corpus costs ~40 ms per text, so a retrain re-encodes only texts it has not seen.
The cache lives under build/ (not packaged, not committed) and is keyed by the encoder's name.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from civicgrid.domain.embedding import DIM, E5Encoder, Encoder, Matrix, text_key

CACHE = Path(__file__).resolve().parents[2] / "build" / "e5-vectors.npz"


def embed_all(texts: Sequence[str], encoder: Encoder | None = None, path: Path = CACHE) -> Matrix:
    encoder = encoder or E5Encoder(cache_size=0)
    known: dict[bytes, np.ndarray] = {}
    if path.exists():
        with np.load(path) as stored:
            if str(stored["encoder"]) == encoder.name:
                known = dict(zip(map(bytes, stored["keys"]), stored["vectors"], strict=True))
    keys = [text_key(text) for text in texts]
    todo = sorted(
        {key: text for key, text in zip(keys, texts, strict=True) if key not in known}.items()
    )
    for start in range(0, len(todo), 256):
        chunk = todo[start : start + 256]
        vectors = encoder.embed([text for _, text in chunk])
        known.update(zip((key for key, _ in chunk), vectors, strict=True))
        if start % 1024 == 0 or start + 256 >= len(todo):
            _save(path, encoder.name, known)
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for row, key in enumerate(keys):
        out[row] = known[key]
    return out


def _save(path: Path, name: str, known: dict[bytes, np.ndarray]) -> None:
    """Writes the union of `known` and the file: two runs may encode at the same time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        with np.load(path) as stored:
            if str(stored["encoder"]) == name:
                for key, vector in zip(map(bytes, stored["keys"]), stored["vectors"], strict=True):
                    known.setdefault(key, vector)
    keys = np.array(list(known), dtype="S16")
    vectors = np.array(list(known.values()), dtype=np.float32).reshape(len(known), DIM)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(partial, encoder=np.array(name), keys=keys, vectors=vectors)
    partial.replace(path)


class DiskCachedEncoder:
    """The default encoder behind the on-disk cache: a retrain or an evaluation encodes only
    texts it has never seen."""

    def __init__(self, path: Path = CACHE) -> None:
        self._inner = E5Encoder(cache_size=0)
        self.name = self._inner.name
        self._path = path

    def embed(self, texts: Sequence[str]) -> Matrix:
        return embed_all(texts, self._inner, self._path)
