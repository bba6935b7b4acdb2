"""The protocol boundary: a client message is parsed and type-checked here, in one place.

Every field the server reads is declared below with its JSON type (and range, for
numbers); a message that breaks one gets an ``invalid_request_error`` naming the field,
as the real API answers, and the handlers behind this can trust what they read. JSON is
parsed strictly (no ``NaN``/``Infinity``, which Python's json accepts by default; no
number that overflows to infinity) and nesting is bounded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterator, Optional

MAX_DEPTH = 32  # the real API's events nest a few levels; deeper is refused, never recursed into
MS_MAX = 60_000  # bound of VAD padding/silence (a minute): a larger one would never end a turn


class ClientError(Exception):
    """A client event the real API would refuse: sent back as an ``error`` event."""

    def __init__(self, code: str, message: str, param: Optional[str] = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


@dataclass(frozen=True)
class Spec:
    kind: str  # "string" | "integer" | "number" | "boolean" | "object" | "array"
    nullable: bool = False
    required: bool = False
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    choices: Optional[tuple] = None
    items: Optional["Spec"] = None  # arrays: every element


_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
          "object": "an object", "array": "an array"}

STR, OBJ, BOOL = Spec("string"), Spec("object"), Spec("boolean")
OBJ_OR_NULL, STR_OR_NULL = Spec("object", nullable=True), Spec("string", nullable=True)
_FORMAT = Spec("any")  # a beta name or a GA {type, rate} object: parse_format checks it
_MODALITIES = Spec("array", items=Spec("string", choices=("text", "audio")))
_MS = Spec("integer", minimum=0, maximum=MS_MAX)


def _turn_detection(prefix: str) -> dict[str, Spec]:
    return {prefix: OBJ_OR_NULL, f"{prefix}.type": STR, f"{prefix}.threshold": Spec("number", minimum=0, maximum=1),
            f"{prefix}.prefix_padding_ms": _MS, f"{prefix}.silence_duration_ms": _MS,
            f"{prefix}.create_response": BOOL, f"{prefix}.interrupt_response": BOOL}


EVENTS: dict[str, dict[str, Spec]] = {
    "session.update": {
        "session": Spec("object", required=True), "session.instructions": STR,
        "session.output_modalities": _MODALITIES, "session.modalities": _MODALITIES,
        "session.audio": OBJ, "session.audio.input": OBJ, "session.audio.output": OBJ,
        "session.audio.input.format": _FORMAT, "session.audio.output.format": _FORMAT,
        "session.input_audio_format": _FORMAT, "session.output_audio_format": _FORMAT,
        "session.audio.input.transcription": OBJ_OR_NULL, "session.input_audio_transcription": OBJ_OR_NULL,
        "session.audio.output.voice": STR, "session.voice": STR,
        **_turn_detection("session.audio.input.turn_detection"), **_turn_detection("session.turn_detection"),
    },
    "conversation.item.create": {
        "item": Spec("object", required=True), "item.id": STR, "item.type": STR,
        "item.role": Spec("string", choices=("user", "assistant", "system")),
        "item.content": Spec("array", items=OBJ), "item.content[].type": STR,
        "item.content[].text": STR_OR_NULL, "item.content[].transcript": STR_OR_NULL,
        "previous_item_id": STR_OR_NULL,
    },
    "response.create": {
        "response": OBJ, "response.conversation": STR, "response.metadata": OBJ_OR_NULL,
        "response.output_modalities": _MODALITIES, "response.modalities": _MODALITIES,
        "response.audio": OBJ, "response.audio.output": OBJ, "response.audio.output.format": _FORMAT,
        "response.output_audio_format": _FORMAT, "response.instructions": STR,
    },
    "response.cancel": {"response_id": STR},
    "conversation.item.truncate": {
        "item_id": Spec("string", required=True), "content_index": Spec("integer", minimum=0),
        "audio_end_ms": Spec("integer", required=True, minimum=0),
    },
    "input_audio_buffer.append": {"audio": Spec("string", required=True)},
    "input_audio_buffer.commit": {},
    "input_audio_buffer.clear": {},
    "output_audio_buffer.clear": {},
}
_COMMON = {"type": Spec("string", required=True), "event_id": STR}


def parse(data: str | bytes) -> Any:
    """Strict JSON of one message; :class:`ClientError` ``invalid_json`` otherwise.

    ``NaN``/``Infinity`` and numbers that overflow a float parse to :class:`NonFinite`
    markers so that :func:`validate` can name the field holding them.
    """
    try:
        return json.loads(data, parse_constant=NonFinite, parse_float=_float)
    except RecursionError:
        raise ClientError("invalid_json", "Invalid JSON: nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientError("invalid_json", f"Invalid JSON: {exc}") from None


def validate(event: Any) -> dict:
    """Check a parsed event against its declared fields; returns it typed as a dict."""
    if not isinstance(event, dict):
        raise ClientError("invalid_event", "The event must be an object with a 'type'.")
    _check_tree(event)
    for path, spec in _COMMON.items():
        _check(event, path, spec)
    fields = EVENTS.get(event["type"])
    if fields is None:
        raise ClientError("invalid_value", f"Invalid value: '{event['type']}'. Unknown event type.", "type")
    for path, spec in fields.items():
        _check(event, path, spec)
    return event


@dataclass(frozen=True)
class NonFinite:
    """A number JSON has no place for (``NaN``, ``Infinity``, ``1e999``), as written."""

    text: str


def _float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text[:40])


def _check_tree(event: dict) -> None:
    """Bounded nesting and finite numbers everywhere, undeclared fields included."""
    stack: list[tuple[str, Any, int]] = [("", event, 1)]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, NonFinite):
            raise ClientError("invalid_value", f"Invalid value for '{where}': {value.text} is not a finite "
                              f"number.", where)
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise ClientError("invalid_value", f"Invalid value for '{where}': nested deeper than "
                                  f"{MAX_DEPTH} levels.", where)
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((f"{where}[{k}]" if isinstance(value, list) else f"{where}.{k}" if where else str(k),
                          v, depth + 1) for k, v in pairs)


def _values(event: dict, path: str) -> Iterator[tuple[str, bool, Any]]:
    """(concrete path, present, value) for every place ``path`` names; ``x[]`` = each element."""
    places: list[tuple[str, Any]] = [("", event)]
    parts = path.split(".")
    for i, part in enumerate(parts):
        each = part.endswith("[]")
        key = part[:-2] if each else part
        last = i == len(parts) - 1
        nxt: list[tuple[str, Any]] = []
        for where, parent in places:
            if not isinstance(parent, dict):
                continue  # the parent's own spec reports it
            name = f"{where}.{key}" if where else key
            if key not in parent:
                if last:
                    yield name, False, None
                continue
            child = parent[key]
            if each:
                if isinstance(child, list):
                    nxt.extend((f"{name}[{j}]", c) for j, c in enumerate(child))
            else:
                nxt.append((name, child))
        places = nxt
    for where, value in places:
        yield where, True, value


def _check(event: dict, path: str, spec: Spec) -> None:
    for where, present, value in _values(event, path):
        if not present:
            if spec.required:
                raise ClientError("missing_required_parameter", f"Missing required parameter: '{where}'.", where)
            continue
        _check_value(where, value, spec)


def _check_value(where: str, value: Any, spec: Spec) -> None:
    if spec.kind == "any" or value is None and spec.nullable:
        return
    ok = {"string": isinstance(value, str), "boolean": isinstance(value, bool),
          "integer": isinstance(value, int) and not isinstance(value, bool)
          or isinstance(value, float) and value.is_integer(),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool),
          "object": isinstance(value, dict), "array": isinstance(value, list)}[spec.kind]
    if not ok:
        raise ClientError("invalid_type", f"Invalid type for '{where}': expected {_NAMES[spec.kind]}, "
                          f"but got {_describe(value)} instead.", where)
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(f"'{c}'" for c in spec.choices)
        raise ClientError("invalid_value", f"Invalid value for '{where}': {value!r}. Supported values are: "
                          f"{allowed}.", where)
    if spec.kind in ("integer", "number"):
        if spec.minimum is not None and value < spec.minimum:
            raise ClientError("invalid_value", f"Invalid '{where}': {value} is below the minimum of "
                              f"{spec.minimum:g}.", where)
        if spec.maximum is not None and value > spec.maximum:
            raise ClientError("invalid_value", f"Invalid '{where}': {value} is above the maximum of "
                              f"{spec.maximum:g}.", where)
    if spec.items is not None:
        for j, item in enumerate(value):
            _check_value(f"{where}[{j}]", item, spec.items)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in (("boolean", bool), ("string", str), ("object", dict), ("array", list)):
        if isinstance(value, name):
            return _NAMES[kind]
    return "an integer" if isinstance(value, int) else "a decimal"
