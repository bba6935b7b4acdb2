"""``captioner serve``: the embedded realtime-compatible server on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import logging

from captioner.server import ServerOptions, serve_embedded, serve_webrtc
from captioner.server._voice import VoiceUnavailable

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ServerOptions()
    parser.add_argument("--port", type=int, default=8765,
                        help="TCP port on 127.0.0.1, 0 for any free port (default: %(default)s)")
    parser.add_argument("--beta", action="store_true",
                        help="beta event names for every client (default: only for clients sending "
                             "the header OpenAI-Beta: realtime=v1)")
    parser.add_argument("--webrtc", action="store_true",
                        help="WebRTC endpoint (SDP offers over HTTP, events on the oai-events data channel, "
                             "voice on the audio track) instead of the websocket (default: websocket)")
    parser.add_argument("--dialect", choices=("realtime", "live"), default="realtime",
                        help="the endpoint to announce: both are served, /v1/realtime and GPT-Live /v1/live "
                             "(default: %(default)s)")
    parser.add_argument("--duration-ms", action="store_true",
                        help="attach each word's true duration_ms to transcript deltas (default: off, "
                             "so clients estimate timing)")
    parser.add_argument("--script", default=d.script, metavar="story|echo|FILE",
                        help="what the assistant says: the built-in story, the user's last text, or one "
                             "line of FILE per answer (default: %(default)s)")
    parser.add_argument("--voice", default=d.voice, metavar="auto|piper:joe|piper:MODEL.onnx|espeak:VOICE",
                        help="the voice: auto is Piper's joe when captioner[voice] is installed, else "
                             "espeak-ng en-us (default: %(default)s)")
    parser.add_argument("--wpm", type=int, default=d.wpm,
                        help="speaking rate in words per minute; Piper speaks at its trained pace at 175 "
                             "(default: %(default)s)")
    parser.add_argument("--pace", type=float, default=d.pace,
                        help="send audio this many times faster than real time, 0 for all at once "
                             "(default: %(default)s)")
    parser.add_argument("--user-says", default=d.user_says,
                        help="scripted transcript of user speech detected by server VAD (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    opts = dict(beta=args.beta, duration_ms=args.duration_ms, script=args.script, voice=args.voice,
                wpm=args.wpm, pace=args.pace, user_says=args.user_says)

    async def main() -> None:
        serve = serve_webrtc if args.webrtc else serve_embedded
        async with serve(port=args.port, **opts) as url:
            if getattr(args, "dialect", "realtime") == "live":
                print(f"GPT-Live server listening on {url}/live (Ctrl-C to stop)", flush=True)
            elif args.webrtc:
                print(f"realtime server listening on {url} (pass it to captioner live --transport webrtc "
                      f"--url; SDP offers go to {url}/realtime/calls); Ctrl-C to stop", flush=True)
            else:
                print(f"realtime server listening on {url} (pass it to captioner live --url; "
                      f"clients connect to {url}/realtime); Ctrl-C to stop", flush=True)
            await asyncio.Future()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError, VoiceUnavailable) as exc:
        log.error("serve: %s", exc)
        return 1
    return 0
