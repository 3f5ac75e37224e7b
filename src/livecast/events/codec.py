"""Domain events as JSON, for buses that leave the process.

An event is one JSON object: ``type`` (the class name) and its fields, with UUIDs as strings
and times as ISO 8601. Decoding looks the class up in the catalogue and converts the fields
back by their annotations; an unknown type (a newer node's event) decodes to None.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
import uuid
from datetime import datetime
from functools import cache
from typing import Any

from livecast.events import catalog
from livecast.events.catalog import DomainEvent


def encode(event: DomainEvent) -> str:
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return json.dumps({"type": event.type, **fields}, default=_plain, separators=(",", ":"))


def decode(text: str | bytes) -> DomainEvent | None:
    data: dict[str, Any] = json.loads(text)
    cls = _classes().get(data.pop("type", ""))
    if cls is None:
        return None
    hints = _hints(cls)
    return cls(**{name: _typed(hints[name], value) for name, value in data.items()})


def _plain(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(hint, types.UnionType):  # ``X | None``: convert as X
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is uuid.UUID:
        return uuid.UUID(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if typing.get_origin(hint) is tuple:
        return tuple(value)
    return value


def event_classes() -> dict[str, type[DomainEvent]]:
    """Every event class of the catalogue, by type name."""
    return dict(_classes())


@cache
def _classes() -> dict[str, type[DomainEvent]]:
    found: dict[str, type[DomainEvent]] = {}
    for value in vars(catalog).values():
        if isinstance(value, type) and issubclass(value, DomainEvent) and value is not DomainEvent:
            found[value.__name__] = value
    return found


_HINTS: dict[type[DomainEvent], dict[str, Any]] = {}


def _hints(cls: type[DomainEvent]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints
