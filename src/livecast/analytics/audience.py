"""Audience arithmetic over viewer sessions: concurrency, watch time, retention and cohorts.

Pure: times are seconds since the stream started, every interval is half-open ``[start, end)``,
and one viewer (a viewer key: a user, or an anonymous session) counts once however many tabs
they have open. So a viewer's sessions are merged before anything is counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Visit:
    """One session of ``viewer``, clipped to the stream's live time."""

    viewer: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class RetentionPoint:
    minute: int
    viewers: int
    share: float


@dataclass(frozen=True, slots=True)
class Cohort:
    minute: int
    joined: int
    remaining: tuple[int, ...]  # cohort members who watched during minute ``minute + i``


@dataclass(frozen=True, slots=True)
class Audience:
    views: int
    unique_viewers: int
    peak_concurrent: int
    average_concurrent: float
    median_concurrent: int
    total_watch_seconds: float
    average_watch_seconds: float
    retention: tuple[RetentionPoint, ...]
    cohorts: tuple[Cohort, ...]
    viewers: frozenset[str] = field(default_factory=frozenset)


def merge(visits: Iterable[Visit]) -> dict[str, list[tuple[float, float]]]:
    """Each viewer's visits as sorted, disjoint intervals (touching ones join)."""
    by_viewer: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for visit in visits:
        if visit.end > visit.start:
            by_viewer[visit.viewer].append((visit.start, visit.end))
    merged: dict[str, list[tuple[float, float]]] = {}
    for viewer, spans in by_viewer.items():
        spans.sort()
        joined = [spans[0]]
        for start, end in spans[1:]:
            last_start, last_end = joined[-1]
            if start <= last_end:
                joined[-1] = (last_start, max(last_end, end))
            else:
                joined.append((start, end))
        merged[viewer] = joined
    return merged


def concurrency(
    merged: dict[str, list[tuple[float, float]]], duration: float
) -> list[tuple[float, float, int]]:
    """The viewer count as steps ``(start, end, viewers)`` covering ``[0, duration)``."""
    changes: list[tuple[float, int]] = []
    for spans in merged.values():
        for start, end in spans:
            changes += [(start, 1), (end, -1)]
    changes.sort()  # at one instant leaves (-1) sort before joins: intervals are half-open
    steps: list[tuple[float, float, int]] = []
    level, at = 0, 0.0
    for moment, delta in changes:
        moment = min(max(moment, 0.0), duration)
        if moment > at:
            steps.append((at, moment, level))
            at = moment
        level += delta
    if duration > at:
        steps.append((at, duration, level))
    return steps


def time_weighted_median(steps: list[tuple[float, float, int]]) -> int:
    """The smallest count that the audience was at or below for half of the time."""
    total = sum(end - start for start, end, _ in steps)
    covered = 0.0
    for level, length in sorted((level, end - start) for start, end, level in steps):
        covered += length
        if covered >= total / 2:
            return level
    return 0


def retention(watch: dict[str, float], unique: int) -> tuple[RetentionPoint, ...]:
    """Of all viewers, how many watched at least ``minute`` minutes (minute 0 is everyone)."""
    if unique == 0:
        return ()
    longest = max(watch.values(), default=0.0)
    points = []
    for minute in range(math.ceil(longest / MINUTE) + 1):
        viewers = unique if minute == 0 else sum(1 for s in watch.values() if s >= minute * MINUTE)
        points.append(RetentionPoint(minute, viewers, round(viewers / unique, 4)))
    return tuple(points)


def cohorts(merged: dict[str, list[tuple[float, float]]], duration: float) -> tuple[Cohort, ...]:
    """Viewers grouped by the stream minute they first joined in, and how many of each group
    watched during every later minute of the stream."""
    minutes = math.ceil(duration / MINUTE)
    groups: dict[int, list[set[int]]] = defaultdict(list)
    for spans in merged.values():
        watched: set[int] = set()
        for start, end in spans:
            watched.update(range(int(start // MINUTE), math.ceil(end / MINUTE)))
        groups[int(spans[0][0] // MINUTE)].append(watched)
    found = []
    for minute in sorted(groups):
        members = groups[minute]
        remaining = tuple(
            sum(1 for watched in members if later in watched) for later in range(minute, minutes)
        )
        found.append(Cohort(minute, len(members), remaining))
    return tuple(found)


def audience(visits: list[Visit], duration: float, *, views: int, unique: int) -> Audience:
    """Everything about the audience of a stream ``duration`` seconds long.

    ``views`` counts sessions and ``unique`` distinct viewers, including any whose sessions
    fell outside the live time (they count as viewers who watched nothing).
    """
    merged = merge(visits)
    steps = concurrency(merged, duration)
    watch = {viewer: sum(end - start for start, end in spans) for viewer, spans in merged.items()}
    total = sum(watch.values())
    return Audience(
        views=views,
        unique_viewers=unique,
        peak_concurrent=max((level for start, end, level in steps if end > start), default=0),
        average_concurrent=round(total / duration, 3) if duration > 0 else 0.0,
        median_concurrent=time_weighted_median(steps),
        total_watch_seconds=round(total, 3),
        average_watch_seconds=round(total / unique, 3) if unique else 0.0,
        retention=retention(watch, unique),
        cohorts=cohorts(merged, duration),
        viewers=frozenset(merged),
    )
