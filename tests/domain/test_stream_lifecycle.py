"""The lifecycle state machine, checked against an independent model with Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from livecast.domain.stream_lifecycle import (
    FINAL_STATES,
    StreamAction,
    StreamStatus,
    allowed_actions,
    transition,
)
from livecast.errors import Conflict, InvalidTransition


class LifecycleMachine(RuleBasedStateMachine):
    """Drives one stream through random actions; the model says what must happen."""

    def __init__(self) -> None:
        super().__init__()
        self.status = StreamStatus.IDLE
        self.went_live = False
        self.history: list[StreamStatus] = [self.status]

    @rule(action=st.sampled_from(StreamAction))
    def act(self, action: StreamAction) -> None:
        expected = self._model(self.status, action)
        if expected is None:
            with pytest.raises(InvalidTransition) as refused:
                transition(self.status, action)
            assert str(action) in str(refused.value)
            assert str(self.status) in str(refused.value)
            assert action not in allowed_actions(self.status)
            return
        self.status = transition(self.status, action)
        assert self.status is expected
        self.went_live |= self.status is StreamStatus.LIVE
        self.history.append(self.status)

    @staticmethod
    def _model(status: StreamStatus, action: StreamAction) -> StreamStatus | None:
        pre_live = status in (StreamStatus.IDLE, StreamStatus.SCHEDULED)
        match action:
            case StreamAction.START if pre_live:
                return StreamStatus.LIVE
            case StreamAction.END if status is StreamStatus.LIVE:
                return StreamStatus.ENDED
            case StreamAction.CANCEL if pre_live:
                return StreamStatus.CANCELLED
            case StreamAction.SCHEDULE if pre_live:
                return StreamStatus.SCHEDULED
            case StreamAction.UNSCHEDULE if status is StreamStatus.SCHEDULED:
                return StreamStatus.IDLE
        return None

    @invariant()
    def final_states_are_final(self) -> None:
        if self.status in FINAL_STATES:
            assert allowed_actions(self.status) == frozenset()

    @invariant()
    def never_returns_to_live(self) -> None:
        # A stream is live at most once: ended is never followed by live.
        if StreamStatus.ENDED in self.history:
            after = self.history[self.history.index(StreamStatus.ENDED) :]
            assert StreamStatus.LIVE not in after

    @invariant()
    def cancelled_never_went_live(self) -> None:
        if self.status is StreamStatus.CANCELLED:
            assert not self.went_live


TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = settings(max_examples=200, stateful_step_count=20, deadline=None)


def test_refusal_is_a_409_conflict_with_a_reason() -> None:
    with pytest.raises(Conflict) as refused:
        transition(StreamStatus.LIVE, StreamAction.CANCEL)
    assert refused.value.status == 409
    assert refused.value.detail == "Cannot cancel a stream that is live: it is live; end it first."
