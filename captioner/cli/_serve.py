"""``captioner serve``: the embedded realtime-compatible server on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import logging

from captioner.server import ServerOptions, serve_embedded, serve_webrtc

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServerOptions()
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--beta", action="store_true", help="beta event names for every client")
    parser.add_argument("--webrtc", action="store_true",
                        help="WebRTC endpoint (SDP offers over HTTP, events on the oai-events data channel, "
                             "voice on the audio track) instead of the websocket")
    parser.add_argument("--duration-ms", action="store_true", help="attach duration_ms to transcript deltas")
    parser.add_argument("--script", default=defaults.script, metavar="story|echo|FILE",
                        help="what the assistant says (default: the built-in story)")
    parser.add_argument("--voice", default=defaults.voice, help="espeak-ng voice (default en-us)")
    parser.add_argument("--wpm", type=int, default=defaults.wpm, help="speaking rate, words per minute")
    parser.add_argument("--pace", type=float, default=defaults.pace,
                        help="send audio this many times faster than real time (0: at once)")
    parser.add_argument("--dialect", choices=("realtime", "live"), default="realtime",
                        help="the endpoint to announce: both are served (/v1/realtime and GPT-Live /v1/live)")
    parser.add_argument("--user-says", default=defaults.user_says,
                        help="scripted transcript of user speech detected by server VAD")


def run(args: argparse.Namespace) -> int:
    opts = dict(beta=args.beta, duration_ms=args.duration_ms, script=args.script, voice=args.voice,
                wpm=args.wpm, pace=args.pace, user_says=args.user_says)

    async def main() -> None:
        serve = serve_webrtc if args.webrtc else serve_embedded
        async with serve(port=args.port, **opts) as url:
            if getattr(args, "dialect", "realtime") == "live":
                where = f"GPT-Live server listening on {url}/live"
            elif args.webrtc:
                where = f"realtime server listening on {url}/realtime/calls (WebRTC SDP offers)"
            else:
                where = f"realtime server listening on {url}/realtime"
            print(f"{where} (Ctrl-C to stop)", flush=True)
            await asyncio.Future()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        log.error("serve: %s", exc)
        return 1
    return 0
