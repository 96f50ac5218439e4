"""Embeddings of labelled texts for training and evaluation, cached on disk by text hash.

Encoding a corpus costs ~40-60 ms per text, so a retrain or an evaluation encodes only the
texts it has not seen. The cache lives under build/ (not packaged, not committed) and is keyed
by the encoder's name; it holds vectors of texts, never labels.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from civicgrid.domain.embedding import DIM, E5Encoder, Matrix, text_key

CACHE = Path(__file__).resolve().parents[2] / "build" / "e5-vectors.npz"
_SAVE_EVERY = 256


class DiskCachedEncoder:
    """The default encoder behind the on-disk cache."""

    def __init__(self, path: Path = CACHE) -> None:
        self._inner = E5Encoder(cache_size=0)
        self.name = self._inner.name
        self._path = path
        self._known = _load(path, self.name)

    def embed(self, texts: Sequence[str]) -> Matrix:
        keys = [text_key(text) for text in texts]
        todo = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._known}.items()
        )
        for start in range(0, len(todo), _SAVE_EVERY):
            chunk = todo[start : start + _SAVE_EVERY]
            vectors = self._inner.embed([text for _, text in chunk])
            self._known.update(zip((key for key, _ in chunk), vectors, strict=True))
            _save(self._path, self.name, self._known)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = self._known[key]
        return out


def _load(path: Path, name: str) -> dict[bytes, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as stored:
        if str(stored["encoder"]) != name:
            return {}
        return dict(zip(map(bytes, stored["keys"]), stored["vectors"], strict=True))


def _save(path: Path, name: str, known: dict[bytes, np.ndarray]) -> None:
    """Writes the union of `known` and the file: two runs may encode at the same time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for key, vector in _load(path, name).items():
        known.setdefault(key, vector)
    keys = np.array(list(known), dtype="S16")
    vectors = np.array(list(known.values()), dtype=np.float32).reshape(len(known), DIM)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(partial, encoder=np.array(name), keys=keys, vectors=vectors)
    partial.replace(path)
