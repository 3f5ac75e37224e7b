"""Audience arithmetic on scripted visits: peak, average, median, watch time, retention."""

from __future__ import annotations

from livecast.analytics.audience import Cohort, RetentionPoint, Visit, audience, concurrency, merge

# Four minutes of stream. bob: two overlapping tabs, [0, 120) and [60, 180) -> [0, 180).
# carol: [30, 90) and again [150, 240). A guest: [100, 130).
VISITS = [
    Visit("u:bob", 0, 120),
    Visit("u:bob", 60, 180),
    Visit("u:carol", 30, 90),
    Visit("u:carol", 150, 240),
    Visit("s:guest", 100, 130),
]


def test_a_viewers_tabs_merge_and_touching_visits_join() -> None:
    merged = merge([*VISITS, Visit("s:late", 10, 20), Visit("s:late", 20, 25)])
    assert merged["u:bob"] == [(0, 180)]
    assert merged["u:carol"] == [(30, 90), (150, 240)]
    assert merged["s:late"] == [(10, 25)]


def test_concurrency_steps_count_each_viewer_once_and_intervals_are_half_open() -> None:
    steps = concurrency(merge(VISITS), 240)
    assert steps == [
        (0, 30, 1),
        (30, 90, 2),
        (90, 100, 1),
        (100, 130, 2),
        (130, 150, 1),
        (150, 180, 2),
        (180, 240, 1),
    ]
    # One leaves as another joins: never two at once.
    handover = concurrency(merge([Visit("a", 0, 10), Visit("b", 10, 20)]), 20)
    assert max(level for _, _, level in handover) == 1


def test_the_audience_of_a_scripted_stream() -> None:
    found = audience(VISITS, 240, views=5, unique=3)
    assert found.views == 5
    assert found.unique_viewers == 3
    assert found.peak_concurrent == 2
    assert found.total_watch_seconds == 180 + 150 + 30
    assert found.average_concurrent == 1.5  # 360 viewer-seconds over 240 s
    assert found.median_concurrent == 1  # 1 viewer for 120 s, 2 for 120 s: the lower one
    assert found.average_watch_seconds == 120
    assert found.retention == (
        RetentionPoint(0, 3, 1.0),
        RetentionPoint(1, 2, 0.6667),
        RetentionPoint(2, 2, 0.6667),
        RetentionPoint(3, 1, 0.3333),
    )
    assert found.cohorts == (
        Cohort(minute=0, joined=2, remaining=(2, 2, 2, 1)),
        Cohort(minute=1, joined=1, remaining=(1, 1, 0)),
    )


def test_the_median_is_time_weighted() -> None:
    # 3 viewers for 10 s, then 1 viewer for 50 s: the median is 1, the average 1.333.
    visits = [Visit("a", 0, 60), Visit("b", 0, 10), Visit("c", 0, 10)]
    found = audience(visits, 60, views=3, unique=3)
    assert (found.median_concurrent, found.average_concurrent, found.peak_concurrent) == (
        1,
        1.333,
        3,
    )


def test_no_viewers_and_viewers_outside_the_live_time() -> None:
    empty = audience([], 120, views=0, unique=0)
    assert (empty.peak_concurrent, empty.average_concurrent, empty.median_concurrent) == (0, 0, 0)
    assert empty.retention == ()
    assert empty.cohorts == ()
    # One viewer only waited before the start (clipped to nothing): a view, no watch time.
    found = audience([Visit("early", 0, 0), Visit("b", 0, 60)], 60, views=2, unique=2)
    assert found.total_watch_seconds == 60
    assert found.average_watch_seconds == 30
    assert found.retention[1] == RetentionPoint(1, 1, 0.5)
