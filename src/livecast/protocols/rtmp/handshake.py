"""Server side of the RTMP handshake (RTMP specification, section 5.2, and the digest variant).

Two handshakes share the same packets, C0/C1/C2 from the client and S0/S1/S2 from the server:

* plain: S1 is random, S2 echoes C1 (version field of C1 is zero);
* digest ("complex", Flash Player 9 and later, librtmp, ffmpeg): C1 carries an HMAC-SHA256 of
  itself keyed with the Flash Player key, at an offset derived from four bytes of C1 (schema 0:
  bytes 8..11, schema 1: bytes 772..775). The server answers with S1 carrying its own digest
  (Flash Media Server key) at the same schema's offset, and S2 signed with a key derived from the
  client's digest. Players that check the server (ffmpeg when it plays) refuse a plain answer.

A client whose digest does not validate gets the plain answer.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Final

from livecast.errors import ProtocolError

__all__ = [
    "HANDSHAKE_SIZE",
    "RTMP_VERSION",
    "ServerHandshake",
    "client_digest",
    "digest_offset",
    "server_response",
]

RTMP_VERSION: Final = 3
HANDSHAKE_SIZE: Final = 1536
DIGEST_SIZE: Final = 32

# The 32 bytes both published keys end with.
_KEY_TAIL: Final = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FLASH_PLAYER_KEY: Final = b"Genuine Adobe Flash Player 001" + _KEY_TAIL
FLASH_MEDIA_SERVER_KEY: Final = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL
_PLAYER_KEY_TEXT: Final = 30  # C1 is signed with the text part of the player key only
_SERVER_KEY_TEXT: Final = 36  # likewise S1 with the text part of the server key
_SERVER_VERSION: Final = bytes((4, 5, 0, 1))  # a non-zero version announces a digest in S1
_SCHEMA_BASES: Final = (8, 772)


def digest_offset(packet: bytes, schema: int) -> int:
    """Offset of the 32-byte digest in a C1/S1 ``packet`` laid out with ``schema`` (0 or 1)."""
    base = _SCHEMA_BASES[schema]
    return sum(packet[base : base + 4]) % 728 + base + 4


def _sign(packet: bytes, offset: int, key: bytes) -> bytes:
    message = packet[:offset] + packet[offset + DIGEST_SIZE :]
    return hmac.new(key, message, hashlib.sha256).digest()


def client_digest(c1: bytes) -> tuple[bytes, int] | None:
    """The digest of a digest-handshake C1 and its schema, or None for a plain C1."""
    if c1[4:8] == b"\x00\x00\x00\x00":
        return None
    for schema in (0, 1):
        offset = digest_offset(c1, schema)
        expected = _sign(c1, offset, FLASH_PLAYER_KEY[:_PLAYER_KEY_TEXT])
        digest = c1[offset : offset + DIGEST_SIZE]
        if hmac.compare_digest(digest, expected):
            return digest, schema
    return None


def server_response(
    c1: bytes, *, random_bytes: Callable[[int], bytes] = os.urandom, time_ms: int = 0
) -> bytes:
    """S0, S1 and S2 answering ``c1``: the digest answer when its digest validates, else plain."""
    s1 = bytearray(time_ms.to_bytes(4, "big") + bytes(4) + random_bytes(HANDSHAKE_SIZE - 8))
    found = client_digest(c1)
    if found is None:
        return bytes((RTMP_VERSION,)) + bytes(s1) + c1
    digest, schema = found
    s1[4:8] = _SERVER_VERSION
    offset = digest_offset(bytes(s1), schema)
    s1[offset : offset + DIGEST_SIZE] = _sign(
        bytes(s1), offset, FLASH_MEDIA_SERVER_KEY[:_SERVER_KEY_TEXT]
    )
    s2 = random_bytes(HANDSHAKE_SIZE - DIGEST_SIZE)
    key = hmac.new(FLASH_MEDIA_SERVER_KEY, digest, hashlib.sha256).digest()
    s2 += hmac.new(key, s2, hashlib.sha256).digest()
    return bytes((RTMP_VERSION,)) + bytes(s1) + s2


class ServerHandshake:
    """Sans-I/O server handshake: feed the client's bytes, send what :meth:`receive_data`
    returns; once :attr:`done`, :attr:`leftover` holds the bytes that followed C2.

    C2 is read but not checked: clients differ in what they put there and nothing depends on it.
    """

    def __init__(self, *, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random_bytes = random_bytes
        self._buffer = bytearray()
        self._answered = False
        self.done = False
        self.digest = False  # whether the client used (and passed) the digest handshake
        self.leftover = b""

    def receive_data(self, data: bytes | bytearray) -> bytes:
        """Take the client's next bytes; return the bytes to send to it (S0+S1+S2, once)."""
        if self.done:
            raise RuntimeError("handshake already complete")
        self._buffer += data
        if self._buffer and self._buffer[0] != RTMP_VERSION:
            raise ProtocolError(f"unsupported RTMP version {self._buffer[0]} in C0")
        response = b""
        if not self._answered and len(self._buffer) >= 1 + HANDSHAKE_SIZE:
            c1 = bytes(self._buffer[1 : 1 + HANDSHAKE_SIZE])
            response = server_response(c1, random_bytes=self._random_bytes)
            self.digest = client_digest(c1) is not None
            self._answered = True
        if self._answered and len(self._buffer) >= 1 + 2 * HANDSHAKE_SIZE:
            self.leftover = bytes(self._buffer[1 + 2 * HANDSHAKE_SIZE :])
            self._buffer = bytearray()
            self.done = True
        return response
