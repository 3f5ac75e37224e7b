"""HLS Multivariant Playlists: the variant ladder plus the shared audio rendition group.

Audio is its own rendition (CMAF: one track per file), so every EXT-X-STREAM-INF names the
audio group with AUDIO=, and its CODECS lists the video and the audio codec together, as
RFC 8216bis 4.4.6.2 requires of every format in the variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from livecast.protocols.hls.attributes import quoted, yes


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One EXT-X-STREAM-INF; ``codecs`` are RFC 6381 strings (e.g. ``avc1.64001f``)."""

    uri: str
    bandwidth: int  # peak bits per second
    codecs: Sequence[str]
    average_bandwidth: int | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | Fraction | None = None
    audio_group: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioRendition:
    """One EXT-X-MEDIA of TYPE=AUDIO."""

    uri: str
    name: str
    group_id: str = "audio"
    language: str | None = None
    default: bool = True
    autoselect: bool = True
    channels: int | None = None


def render_multivariant(
    variants: Sequence[Variant],
    audio_renditions: Sequence[AudioRendition] = (),
    *,
    version: int = 6,
    independent_segments: bool = True,
) -> str:
    """The Multivariant Playlist text.

    Raises ValueError when a variant names an audio group no rendition belongs to.
    """
    groups = {rendition.group_id for rendition in audio_renditions}
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}"]
    if independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines.extend(_media(rendition) for rendition in audio_renditions)
    for variant in variants:
        if variant.audio_group is not None and variant.audio_group not in groups:
            raise ValueError(f"variant {variant.uri} names unknown audio group")
        lines.append(_stream_inf(variant))
        lines.append(variant.uri)
    lines.append("")
    return "\n".join(lines)


def _media(rendition: AudioRendition) -> str:
    attributes = [
        "TYPE=AUDIO",
        f"GROUP-ID={quoted(rendition.group_id)}",
        f"NAME={quoted(rendition.name)}",
    ]
    if rendition.language is not None:
        attributes.append(f"LANGUAGE={quoted(rendition.language)}")
    attributes += [f"DEFAULT={yes(rendition.default)}", f"AUTOSELECT={yes(rendition.autoselect)}"]
    if rendition.channels is not None:
        attributes.append(f'CHANNELS="{rendition.channels}"')
    attributes.append(f"URI={quoted(rendition.uri)}")
    return "#EXT-X-MEDIA:" + ",".join(attributes)


def _stream_inf(variant: Variant) -> str:
    attributes = [f"BANDWIDTH={variant.bandwidth}"]
    if variant.average_bandwidth is not None:
        attributes.append(f"AVERAGE-BANDWIDTH={variant.average_bandwidth}")
    attributes.append(f"CODECS={quoted(','.join(variant.codecs))}")
    if variant.resolution is not None:
        width, height = variant.resolution
        attributes.append(f"RESOLUTION={width}x{height}")
    if variant.frame_rate is not None:
        attributes.append(f"FRAME-RATE={float(variant.frame_rate):.3f}")
    if variant.audio_group is not None:
        attributes.append(f"AUDIO={quoted(variant.audio_group)}")
    return "#EXT-X-STREAM-INF:" + ",".join(attributes)
