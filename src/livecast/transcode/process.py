"""Starting and stopping an ffmpeg child so that it never outlives livecast.

The child gets its own session (so one ``killpg`` reaches anything it starts) and, on Linux,
``PR_SET_PDEATHSIG``: if livecast dies, even by SIGKILL, the kernel kills ffmpeg too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


async def spawn(argv: Sequence[str], pass_fds: Sequence[int]) -> asyncio.subprocess.Process:
    """Start ``argv`` with stdin and stderr piped and ``pass_fds`` inherited."""
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def kill_group(process: asyncio.subprocess.Process, signum: int = signal.SIGKILL) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


async def terminate(process: asyncio.subprocess.Process, grace: float = 2.0) -> int:
    """SIGTERM the child's group, SIGKILL it after ``grace`` seconds; reap it."""
    if process.stdin is not None:
        process.stdin.close()
    kill_group(process, signal.SIGTERM)
    try:
        async with asyncio.timeout(grace):
            return await process.wait()
    except TimeoutError:
        kill_group(process, signal.SIGKILL)
        return await process.wait()
