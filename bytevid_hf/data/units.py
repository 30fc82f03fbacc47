"""Work units: batches of videos that are encoded, written, resumed and sharded together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .sources import VideoRecord, _sorted_records


@dataclass(frozen=True)
class WorkUnit:
    """A batch of videos processed (and written) together; ``records`` of one ``source_id`` never straddle units."""

    unit_id: int
    records: tuple[VideoRecord, ...]

    @property
    def source_ids(self) -> list[str]:
        return list(dict.fromkeys(r.source_id for r in self.records))


def build_work_units(records: Sequence[VideoRecord], videos_per_unit: int) -> list[WorkUnit]:
    """Split records (sorted by ``source_id``) into units of ``videos_per_unit`` distinct videos, in order.

    Unit ids are ``0 .. n-1``; all rows of one ``source_id`` land in the same unit, so concatenating the units in id
    order gives rows sorted by ``source_id``.
    """
    if isinstance(videos_per_unit, bool) or not isinstance(videos_per_unit, int) or videos_per_unit < 1:
        raise ValueError(f"videos_per_unit must be a positive int, got {videos_per_unit!r}")
    records = _sorted_records(records)
    units: list[WorkUnit] = []
    current: list[VideoRecord] = []
    distinct = 0
    for i, record in enumerate(records):
        new_video = i == 0 or record.source_id != records[i - 1].source_id
        if new_video and distinct == videos_per_unit:
            units.append(WorkUnit(len(units), tuple(current)))
            current, distinct = [], 0
        current.append(record)
        distinct += new_video
    if current:
        units.append(WorkUnit(len(units), tuple(current)))
    return units

