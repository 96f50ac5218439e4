"""Read py-spy's collapsed stacks: where the worker's samples went, for RESULTS.md."""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# py-spy names a frame `function (path:line)`, paths relative to sys.path: ours start so
_OURS = (" (civicgrid/", " (agents/", " (schemas/")
# entry points: every sample of the main thread passes through them, they say nothing
_ENTRY = (" (civicgrid/__main__.py", " (civicgrid/cli/", " (civicgrid/worker.py")


@dataclass
class Profile:
    samples: int
    self_time: Counter[str]
    inclusive: Counter[str]

    def top_self(self, n: int) -> list[tuple[str, float]]:
        return [(frame, count / self.samples) for frame, count in self.self_time.most_common(n)]

    def top_ours(self, n: int) -> list[tuple[str, float]]:
        """The project's own frames by inclusive share: what our code costs, callees and all."""
        ours = [
            (f, c)
            for f, c in self.inclusive.most_common()
            if any(k in f for k in _OURS) and not any(k in f for k in _ENTRY)
        ]
        return [(frame, count / self.samples) for frame, count in ours[:n]]


def read(path: Path) -> Profile:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return Profile(max(samples, 1), self_time, inclusive)
