"""Copy planting: training windows with a segment written twice, so that a model learns to copy across distance.

Natural genomes hold few copies within a training window (3.6% of yeast's bases have a copy on their chromosome), so
a masked LM pretrained on them has little reason to look far. Planting makes copying pay: in a share (`rate`) of the
training windows, a `length`-base segment of *other* training sequence is written twice, the second copy `distance`
bases downstream of the first (start to start, as `fgm benchmark retrieval` places its needle), `distance` drawn
uniformly from [`min_distance`, `max_distance`]. Start the range short (a near-fixed offset is learnt within a few
hundred steps) and widen it with `--plant_curriculum`, so that only matching by content pays at the end (synthetic
copy snippets make induction appear early: "Bi-Induct", arXiv 2509.22947).

Every draw comes from the example's own generator (`mlm.example_generator`), so planted runs are as seeded and
exactly resumable as plain ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch


@dataclass(frozen=True)
class CopyPlanting:
    """Where and how often a training window gets a segment written twice (distances start to start, in bases)."""

    rate: float
    length: int
    min_distance: int
    max_distance: int

    def check(self, window_bases: int):
        """Refuse settings that cannot apply to windows of `window_bases` bases, naming the option at fault."""
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"--plant_rate must be within [0, 1], got {self.rate}")
        if not 1 <= self.length <= window_bases // 2:
            raise ValueError(f"--plant_length {self.length} must be 1 to half the training window "
                             f"({window_bases} bases: at most {window_bases // 2})")
        if not self.length <= self.min_distance <= self.max_distance:
            raise ValueError(f"planting distances must satisfy --plant_length ({self.length}) <= --plant_min_distance "
                             f"({self.min_distance}) <= --plant_max_distance ({self.max_distance}): copies may not "
                             "overlap")
        if self.max_distance + self.length > window_bases:
            raise ValueError(f"--plant_max_distance {self.max_distance} + --plant_length {self.length} does not fit "
                             f"the training window of {window_bases} bases (--max_length): at most "
                             f"{window_bases - self.length}")

    def draw(self, window_bases: int, donors, generator: torch.Generator) -> PlantedCopy | None:
        """The copy for a window of `window_bases` bases: at probability `rate`, a segment of a random donor row
        (`donors`: rows with a `sequence`) and its two places; None for no copy, or where the window is shorter than
        the drawn pair or the donor shorter than a segment (a chromosome's last, partial window)."""
        if not self.rate or float(torch.rand((), generator=generator)) >= self.rate:
            return None

        def draw(low: int, high: int) -> int:  # uniform in [low, high]
            return low + int(torch.randint(high - low + 1, (1,), generator=generator))

        donor = donors[draw(0, len(donors) - 1)]["sequence"]
        distance = draw(self.min_distance, self.max_distance)
        if len(donor) < self.length or window_bases < distance + self.length:
            return None
        start = draw(0, len(donor) - self.length)
        first = draw(0, window_bases - distance - self.length)
        return PlantedCopy(donor[start : start + self.length], first, first + distance)


class PlantedCopy(NamedTuple):
    """A segment and the starts of its two copies in a window."""

    needle: str
    first: int
    second: int

    def written_into(self, sequence: str) -> str:
        end_first, end_second = self.first + len(self.needle), self.second + len(self.needle)
        return (sequence[: self.first] + self.needle + sequence[end_first : self.second] + self.needle
                + sequence[end_second:])
