"""Embedded local realtime-compatible server (``captioner serve``).

A websocket server on 127.0.0.1 speaking the OpenAI Realtime protocol, so captioner (and the
official ``openai`` SDK) can run a full voice session with no API key. Its voice is Piper's
neural en_US "joe" when ``captioner[voice]`` is installed, else espeak-ng; either way every
word's first sample is known (optionally sent as ``duration_ms`` on transcript deltas).

Split sans-I/O style: :mod:`._protocol` is a pure session state machine (client events in,
server events + "send at" offsets out) behind :mod:`._schema` (the checks at the boundary);
:mod:`._app` is the thin asyncio websocket layer; :mod:`._voice` the voices.

Reusable API (tests, ``captioner demo``)::

    from captioner.server import serve_embedded, ServerOptions

    async with serve_embedded(port=0, **opts) as url:   # url == "ws://127.0.0.1:PORT/v1"
        # connect to f"{url}/realtime?model=anything"
        ...

Options (keyword arguments of ``serve_embedded``, fields of :class:`ServerOptions`):

- ``beta: bool = False`` — beta event names for every connection (otherwise only for
  connections sending the header ``OpenAI-Beta: realtime=v1``).
- ``script: "story" | "echo" | path-to-file = "story"`` — what the assistant says. "story": a
  built-in short story, one paragraph per response, cycling; "echo": repeats the latest user text
  item (falls back to the story); a file: one line per response, cycling.
- ``duration_ms: bool = False`` — attach ``duration_ms`` (true duration: espeak word marks, or
  Piper's phoneme alignments) to every ``response.output_audio_transcript.delta``.
- ``voice: str = "auto"`` — ``piper:joe``, ``piper:MODEL.onnx``, ``espeak:VOICE`` (a bare name is
  an espeak-ng voice) or ``auto`` (Piper's joe when installed, else ``espeak:en-us``); see
  :mod:`._voice`. ``wpm: int = 175`` — speaking rate (Piper: its trained pace at 175).
- ``pace: float = 4.0`` — audio is sent this many times faster than real time
  (``0`` = as fast as possible), in chunks of ``chunk_ms: int = 200`` ms of audio.
- ``text_lead_ms: float = 500.0`` — a transcript delta is sent with the audio that plays this
  long before it (so text always arrives ahead of the audio that speaks it).
- ``user_says: str = "(speech)"`` — scripted transcript of user speech detected by server VAD.
- ``auto_response: bool = True`` — server VAD turns (turn_detection not null) create a
  response after the user's speech stops, as the real API does.
- ``vad_silence_ms: int = 500`` — silence that ends a speech turn.

GPT-Live: connections to ``/v1/live`` (or the SDK's ``/v1/live/sessions``) get a
:class:`LiveServerSession` instead (``_live.py``): ``session.start`` / ``response.create`` /
``session.input_audio.append`` / ``session.close``; one continuous output audio stream and
transcript deltas with ``start_ms`` / ``end_ms`` on the session timeline; barge-in withdraws
what is not sent yet (no truncate).

Behaviour worth knowing: every connection gets its own session (ids ``item_000005`` etc.).
Server VAD (webrtcvad) is on by default, as in the real API; ``audio_start_ms`` includes
``prefix_padding_ms`` (default 300) and ``audio_end_ms`` the silence that ended the turn. Input
transcription events are always sent (scripted text, ~200 ms after speech stops). Out-of-band
responses (``conversation: "none"``) are text-only by default and say the latest user text.
``conversation.item.truncate`` beyond the audio already sent, ``response.cancel`` with nothing
active, and ``output_audio_buffer.clear`` (WebRTC-only) get ``error`` events, as the real API;
so does any message that is not strict JSON or has a field of the wrong type (:mod:`._schema`).
A message may be at most 21 MiB (an append of 15 MiB of audio, the real API's limit, in
base64); a larger one closes that connection with 1009.

WebRTC: ``serve_webrtc(port=0, **opts)`` yields ``http://127.0.0.1:PORT/v1``; SDP offers go to
``.../realtime/calls`` (GA) or ``.../realtime?model=`` (beta), events on the ``oai-events`` data
channel, the voice on the audio track with ``output_audio_buffer.*`` marks (see :mod:`._webrtc`).

CLI: ``captioner serve [--port 8765] [--beta] [--duration-ms] [--script FILE|story|echo]
[--voice V] [--wpm N] [--pace X] [--user-says TEXT]``; it prints the URL to pass as
``captioner live --url``.
"""

from __future__ import annotations

from captioner.server._app import serve_embedded
from captioner.server._live import LiveServerSession
from captioner.server._protocol import RealtimeSession, ServerOptions, SpeechRequest
from captioner.server._script import STORY, Script, load_script
from captioner.server._webrtc import serve_webrtc

__all__ = ["serve_embedded", "serve_webrtc", "ServerOptions", "RealtimeSession", "LiveServerSession",
           "SpeechRequest", "Script",
           "load_script", "STORY"]
