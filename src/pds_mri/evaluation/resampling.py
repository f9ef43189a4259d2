"""Bootstrap resamples of rows that resample whole participants (a cluster bootstrap).

A row of an index is a subject-session: two sessions of one participant are not independent, so resampling
rows would count a participant's sessions as separate evidence and make every CI too narrow. A resample draws
participants with replacement and takes all rows of each drawn participant.

With one row per participant (no sessions) the draws are the plain row bootstrap, bit for bit: the cluster
draws are then the row draws, so CIs computed before sessions existed do not move.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from pds_mri.io.layout import participant_of_key

_T = TypeVar("_T")


@dataclass(frozen=True)
class Clusters:
    """The rows (0..n−1) of each cluster, clusters in the order of their first row."""

    members: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, labels: Sequence[Hashable]) -> Clusters:
        rows: dict[Hashable, list[int]] = {}
        for i, label in enumerate(labels):
            rows.setdefault(label, []).append(i)
        return cls(tuple(np.asarray(r, dtype=np.intp) for r in rows.values()))

    @classmethod
    def of_keys(cls, keys: Sequence[str]) -> Clusters:
        """Clusters of row keys (``sub-X`` or ``sub-X_ses-Y``) by participant."""
        return cls.of([participant_of_key(k) for k in keys])

    @property
    def n_rows(self) -> int:
        return int(sum(m.size for m in self.members))

    @property
    def singletons(self) -> bool:
        return all(m.size == 1 for m in self.members)

    def resample(self, rng: np.random.Generator, count: int, statistic: Callable[[np.ndarray], _T]) -> list[_T]:
        """`statistic` of `count` resamples, each given as row indices of shape (B, m).

        One row per cluster: a single call with all `count` resamples (B = count, m = n). Otherwise the
        resamples differ in length, and `statistic` is called once per resample (B = 1)."""
        draws = rng.integers(0, len(self.members), size=(count, len(self.members)))
        if self.singletons:
            order = np.concatenate(self.members) if self.members else np.empty(0, np.intp)
            return [statistic(order[draws])]
        return [statistic(np.concatenate([self.members[c] for c in draw])[None]) for draw in draws]
