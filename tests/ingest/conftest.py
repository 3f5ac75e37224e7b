"""Ingest tests log what they check: capture the ingest loggers at INFO."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def ingest_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="livecast.ingest")
    return caplog
