"""Every stream's packager on this node, kept after the stream ends until retention expires."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from livecast.media.stream import Stream
from livecast.packaging.packager import PackagingOptions, StreamPackager


class Packagers:
    def __init__(
        self,
        options: PackagingOptions,
        spill_root: Path | None,
        retention_seconds: float,
    ) -> None:
        self.options = options
        self.spill_root = spill_root
        self.retention = timedelta(seconds=retention_seconds)
        self._packagers: dict[uuid.UUID, StreamPackager] = {}

    def start(
        self, stream_id: uuid.UUID, media: Stream, window_seconds: float, public: bool
    ) -> StreamPackager:
        """Package ``media``; a previous packager of the same stream is replaced."""
        self._expire()
        old = self._packagers.pop(stream_id, None)
        if old is not None:
            asyncio.get_running_loop().create_task(old.close())
        spill = self.spill_root / str(stream_id) if self.spill_root else None
        packager = StreamPackager(stream_id, self.options, window_seconds, spill, public)
        packager.start(media)
        self._packagers[stream_id] = packager
        return packager

    def get(self, stream_id: uuid.UUID) -> StreamPackager | None:
        self._expire()
        return self._packagers.get(stream_id)

    def __iter__(self) -> object:
        return iter(list(self._packagers.values()))

    def _expire(self) -> None:
        now = datetime.now(UTC)
        for stream_id, packager in list(self._packagers.items()):
            if packager.ended_at is not None and now - packager.ended_at > self.retention:
                del self._packagers[stream_id]
                asyncio.get_running_loop().create_task(self._remove(packager))

    async def _remove(self, packager: StreamPackager) -> None:
        await packager.close()
        if packager.spill_dir is not None:
            await asyncio.to_thread(shutil.rmtree, packager.spill_dir, True)

    async def close(self) -> None:
        packagers = list(self._packagers.values())
        self._packagers.clear()
        await asyncio.gather(*(p.close() for p in packagers), return_exceptions=True)
