"""Per-key token buckets: a partner app may burst up to its minute's allowance, then waits.

Kept in the API process: with several replicas each enforces the limit on its own share."""

from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    per_minute: int
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key_id: int, now: float) -> bool:
        """Take one request's token for `key_id` at monotonic time `now`, if there is one."""
        tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            return False
        self._buckets[key_id] = (tokens - 1.0, now)
        return True
