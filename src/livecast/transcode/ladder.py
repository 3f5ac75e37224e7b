"""Ladder presets and rung selection.

A rung is never above the source: its height is at most the source's and at most the stream's
``quality`` cap, and it keeps the source's frame rate (dropping frames could drop the very
keyframes every rung must share, so the frame rate is never raised and never resampled).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

VideoCodecName = Literal["h264", "hevc", "av1"]


@dataclass(frozen=True, slots=True)
class Preset:
    name: str  # "720p": also the rendition's name in playlists and URLs
    height: int
    bitrate_kbps: int


PRESETS: tuple[Preset, ...] = (
    Preset("2160p", 2160, 16_000),
    Preset("1440p", 1440, 9_000),
    Preset("1080p", 1080, 5_000),
    Preset("720p", 720, 2_800),
    Preset("480p", 480, 1_400),
    Preset("360p", 360, 800),
    Preset("240p", 240, 400),
    Preset("144p", 144, 200),
)
_BY_NAME = {preset.name: preset for preset in PRESETS}


@dataclass(frozen=True, slots=True)
class Rung:
    """One output of the ladder, sized for a given source."""

    name: str
    width: int
    height: int
    bitrate_kbps: int
    frame_rate: Fraction

    @property
    def cost(self) -> float:
        """Admission cost: megapixels encoded per second."""
        return self.width * self.height * float(self.frame_rate) / 1_000_000


@dataclass(frozen=True, slots=True)
class Source:
    width: int
    height: int
    frame_rate: Fraction


def preset(name: str) -> Preset:
    """The preset called ``name`` (``"720p"``); ValueError for an unknown one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise ValueError(f"unknown quality {name!r}; expected one of {known}") from None


def even_width(source: Source, height: int) -> int:
    """The width that keeps the source's aspect ratio at ``height``, rounded to even (``-2``)."""
    return max(2, round(source.width * height / source.height / 2) * 2)


def select_rungs(source: Source, quality: str, max_rungs: int) -> list[Rung]:
    """The rungs for ``source`` under the ``quality`` cap, highest first, at most ``max_rungs``."""
    cap = preset(quality).height
    chosen = [p for p in PRESETS if p.height <= min(cap, source.height)][:max_rungs]
    return [
        Rung(p.name, even_width(source, p.height), p.height, p.bitrate_kbps, source.frame_rate)
        for p in chosen
    ]


def ladder_cost(rungs: list[Rung]) -> float:
    return sum(rung.cost for rung in rungs)
