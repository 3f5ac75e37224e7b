"""Fuzz the HTTP API with schemathesis against a real `livecast serve` process.

Starts livecast on a free port with a fresh data dir, creates a user and a stream so that
authenticated endpoints and real ids are exercised, then runs schemathesis with the checks
that matter: no 5xx, every response matches the documented schema, status and content type.
Exits non-zero when schemathesis finds anything. Used by `make test` with a fixed seed, so a
run is repeatable; set LIVECAST_FUZZ_SEED (and LIVECAST_FUZZ_EXAMPLES) to explore further.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN_PASSWORD = "fuzzing password"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"livecast exited with {process.returncode} before becoming healthy")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"livecast did not become healthy within {timeout}s")


def seed(base: str) -> str:
    """Log in as the admin, create a stream and another user; return an access token."""
    httpx.post(
        f"{base}/api/v1/auth/register",
        json={"username": "viewer1", "email": "v@example.com", "password": "viewer password"},
    ).raise_for_status()
    login = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "fuzzer", "password": ADMIN_PASSWORD},
    )
    login.raise_for_status()
    token = str(login.json()["access_token"])
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{base}/api/v1/streams", json={"title": "seed"}, headers=headers).raise_for_status()
    return token


def main() -> int:
    examples = os.environ.get("LIVECAST_FUZZ_EXAMPLES", "40")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="livecast-fuzz-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
        env.update(
            LIVECAST_HTTP_PORT=str(port),
            LIVECAST_RTMP_PORT=str(free_port()),
            LIVECAST_DATA_DIR=str(Path(tmp) / "data"),
            LIVECAST_AUTH_RATE_LIMIT_PER_MINUTE="100000",
            LIVECAST_LOG_LEVEL="WARNING",
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "livecast",
                "user",
                "create",
                "--admin",
                "--username",
                "fuzzer",
                "--email",
                "fuzzer@example.com",
            ],
            env=env | {"LIVECAST_NEW_USER_PASSWORD": ADMIN_PASSWORD},
            cwd=tmp,
            check=True,
        )
        log = Path(tmp) / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "livecast", "serve"], env=env, cwd=tmp, stderr=sink
            )
            try:
                wait_healthy(base, server)
                token = seed(base)
                command = [
                    str(Path(sys.executable).with_name("st")),
                    "run",
                    f"{base}/openapi.json",
                    "--checks",
                    CHECKS,
                    "--max-examples",
                    examples,
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--workers",
                    "2",
                    "--generation-database",
                    "none",
                    "--no-color",
                    "--seed",
                    os.environ.get("LIVECAST_FUZZ_SEED", "1121"),
                ]
                print("running:", " ".join(c if "Bearer" not in c else "<auth>" for c in command))
                result = subprocess.run(command, cwd=tmp, check=False)
            finally:
                server.terminate()
                server.wait(15)
        errors = [line for line in log.read_text().splitlines() if "unhandled error" in line]
        if errors:
            print("the server logged unhandled errors:", *errors[:5], sep="\n")
            return 1
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
