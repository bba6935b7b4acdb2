"""Bad client messages get an ``error`` event naming the field; the connection stays open.

Python's json accepts ``NaN``/``Infinity`` and recurses on nesting, and the handlers used to
hit the odd types (a list as a dict key, ``float("high")``): each of these used to end the
connection with 1011.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from captioner.server import espeak as tts
from captioner.server import serve_embedded
from tests.test_server_protocol import Driver

DEEP = "[" * 5000 + "]" * 5000

# (raw message, the error's param)
BAD = [
    pytest.param('{"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, '
                 '"audio_end_ms": NaN}', "audio_end_ms", id="nan-audio_end_ms"),
    pytest.param('{"type": "conversation.item.truncate", "item_id": "item_1", "audio_end_ms": Infinity}',
                 "audio_end_ms", id="infinity-audio_end_ms"),
    pytest.param('{"type": "conversation.item.truncate", "item_id": "item_1", "audio_end_ms": 1e400}',
                 "audio_end_ms", id="overflowing-audio_end_ms"),
    pytest.param('{"type": "response.cancel", "response_id": []}', "response_id", id="list-response_id"),
    pytest.param('{"type": "session.update", "session": {"modalities": [{}]}}', "session.modalities[0]",
                 id="object-in-modalities"),
    pytest.param('{"type": "response.create", "response": {"output_modalities": [{}]}}',
                 "response.output_modalities[0]", id="object-in-response-modalities"),
    pytest.param('{"type": "session.update", "session": {"turn_detection": {"threshold": "high"}}}',
                 "session.turn_detection.threshold", id="string-threshold-beta"),
    pytest.param('{"type": "session.update", "session": {"audio": {"input": {"turn_detection": '
                 '{"threshold": "high"}}}}}', "session.audio.input.turn_detection.threshold",
                 id="string-threshold-ga"),
    pytest.param('{"type": "session.update", "session": {"turn_detection": {"silence_duration_ms": 1e300}}}',
                 "session.turn_detection.silence_duration_ms", id="huge-silence"),
    pytest.param('{"type": "response.create", "response": {"metadata": {"k": [NaN]}}}',
                 "response.metadata.k[0]", id="nan-anywhere"),
    pytest.param(DEEP, None, id="5000-deep"),
    pytest.param('{"type": "response.create", "response": {"metadata": ' + "[" * 200 + "]" * 200 + "}}",
                 "response.metadata" + "[0]" * 30, id="200-deep"),
]


@pytest.mark.parametrize(("message", "param"), BAD)
def test_protocol_answers_an_error_naming_the_field(message, param):
    d = Driver(pace=0)
    d.run(0)
    events = d.send(message)
    assert [e["type"] for e in events] == ["error"]
    error = events[0]["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if param is not None:
        assert f"'{param}'" in error["message"]
    # the session is unharmed: an answer still comes, in full
    answer = d.send({"type": "response.create"}) + d.run_all()
    assert answer[-1]["type"] == "response.done" and answer[-1]["response"]["status"] == "completed"


def test_oversized_append_audio_is_refused_with_an_error():
    from captioner.server._protocol import MAX_APPEND_AUDIO_BYTES

    d = Driver(pace=0)
    d.run(0)
    audio = base64.b64encode(bytes(MAX_APPEND_AUDIO_BYTES + 2)).decode()
    events = d.send({"type": "input_audio_buffer.append", "audio": audio})
    assert [e["type"] for e in events] == ["error"] and events[0]["error"]["param"] == "audio"


needs_espeak = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")


@needs_espeak
def test_over_the_wire_every_bad_message_gets_an_error_and_the_session_goes_on():
    async def main():
        async with serve_embedded(pace=0, voice="espeak:en-us") as url:
            async with connect(f"{url}/realtime") as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                errors = []
                for p in BAD:
                    await ws.send(p.values[0])
                    event = json.loads(await ws.recv())
                    while event["type"] != "error":
                        event = json.loads(await ws.recv())
                    errors.append(event["error"]["param"])
                await ws.send(json.dumps({"type": "response.create"}))
                while event["type"] != "response.done":
                    event = json.loads(await ws.recv())
                return errors, event

    errors, done = asyncio.run(main())
    assert errors == [p.values[1] for p in BAD]
    assert done["response"]["status"] == "completed"


@needs_espeak
def test_message_over_the_size_limit_closes_only_that_connection():
    from websockets.sync.client import connect as connect_sync

    from captioner.server._app import MAX_MESSAGE_BYTES

    def send_huge(url: str) -> int:
        # the sync client: asyncio's client transport trips over the server closing mid-send
        with connect_sync(f"{url}/realtime", max_size=None) as big:
            big.recv()
            with pytest.raises(ConnectionClosed):
                big.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * MAX_MESSAGE_BYTES}))
                while True:
                    big.recv()
            return big.protocol.close_rcvd.code

    async def main():
        async with serve_embedded(pace=0, voice="espeak:en-us") as url:
            async with connect(f"{url}/realtime") as other:
                await other.recv()
                code = await asyncio.to_thread(send_huge, url)
                await other.send(json.dumps({"type": "response.create"}))
                event = {"type": ""}
                while event["type"] != "response.done":
                    event = json.loads(await other.recv())
                return code, event

    code, done = asyncio.run(main())
    assert code == 1009  # message too big
    assert done["response"]["status"] == "completed"
