"""``captioner live`` and ``captioner demo``: options, and the session they run."""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import logging
import sys
from pathlib import Path

from captioner.cli._args import add_display_arguments, add_export_arguments, display_options, exports_from_args
from captioner.core.render import FORMATS
from captioner.edges.client import DEFAULT_MODEL
from captioner.edges.files import KINDS
from captioner.edges.session import LiveOptions, LiveResult, LiveSession, summary


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="auto",
                        help="audio output: auto (device if any, else virtual clock), virtual, or a device name/index")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="virtual clock speed factor (tests/CI; implies --output virtual when != 1)")
    parser.add_argument("--log", type=Path, default=None, help="write the session log (JSON Lines)")
    parser.add_argument("--transport", choices=("websocket", "webrtc"), default="websocket",
                        help="websocket (audio as events) or webrtc (SDP over HTTP, audio on media tracks)")
    add_display_arguments(parser)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="realtime endpoint (default: OpenAI, needs OPENAI_API_KEY), e.g. ws://127.0.0.1:8765/v1 "
                             "(webrtc: http://127.0.0.1:8766/v1, offers go to .../realtime/calls)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--beta", action="store_true", help="beta protocol (header OpenAI-Beta: realtime=v1)")
    parser.add_argument("--say", action="append", default=[], metavar="TEXT",
                        help="send a user text turn and a response.create (repeatable: one turn after another)")
    parser.add_argument("--instructions", default=None)
    parser.add_argument("--mic", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--local-vad", action="store_true",
                        help="interrupt when the microphone hears speech while the assistant is audible")
    parser.add_argument("--no-server-vad", dest="server_vad", action="store_false")
    parser.add_argument("--interrupt-at-ms", type=float, default=None, help="interrupt at this session time")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="end once the --say turns have been answered and heard")
    parser.add_argument("--max-seconds", type=float, default=None)
    add_export_arguments(parser)
    _add_common(parser)


def run_live(args: argparse.Namespace) -> int:
    _configure_logging()
    opts = LiveOptions(
        url=args.url, transport=args.transport, model=args.model, beta=args.beta, say=list(args.say),
        instructions=args.instructions, output="virtual" if args.speed != 1 else args.output,
        speed=args.speed, mic=args.mic, local_vad=args.local_vad, server_vad=args.server_vad,
        interrupt_at_ms=args.interrupt_at_ms, exit_when_done=args.exit_when_done,
        max_seconds=args.max_seconds, log_path=args.log,
        exports=exports_from_args(args),
        **display_options(args, default_show=True),
    )
    try:
        result = asyncio.run(LiveSession(opts).run())
    except (OSError, RuntimeError) as exc:
        print(f"captioner live: {exc}", file=sys.stderr)
        return 1
    print()
    print(summary(result))
    return _report_error("live", result)


def _report_error(command: str, result: LiveResult) -> int:
    if result.error is None:
        return 0
    print(f"captioner {command}: {result.error}", file=sys.stderr)
    return 1


DEMO_TURNS = ["Tell me a short story.", "What happened next?"]


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="output folder (default ./out/demo-<timestamp>)")
    parser.add_argument("--interrupt-fraction", type=float, default=0.6,
                        help="interrupt the first answer at this fraction of its audio (websocket)")
    parser.add_argument("--interrupt-after-ms", type=float, default=3000.0,
                        help="webrtc: interrupt this long after the first answer starts playing (its length "
                             "is unknown until it has played)")
    parser.add_argument("--beta", action="store_true", help="beta protocol names")
    _add_common(parser)


async def demo_session(out: Path, args: argparse.Namespace) -> LiveResult:
    from captioner.server import serve_embedded, serve_webrtc

    # the server paces audio against wall time: keep it ahead of a sped-up virtual clock
    pace = 4.0 * max(1.0, args.speed)
    webrtc = args.transport == "webrtc"
    serve = serve_webrtc if webrtc else serve_embedded
    async with serve(port=0, beta=args.beta, script="story", pace=pace) as url:
        opts = LiveOptions(
            url=url, transport=args.transport, model="embedded", beta=args.beta, say=list(DEMO_TURNS),
            output="virtual" if args.speed != 1 else args.output, speed=args.speed,
            mic="off", server_vad=False, interrupt_fraction=None if webrtc else args.interrupt_fraction,
            interrupt_after_ms=args.interrupt_after_ms if webrtc else None,
            exit_when_done=True, max_seconds=60.0, key_interrupt=False,
            log_path=args.log or out / "session.jsonl",
            exports={k: out / (f"captions.{k}" if k in FORMATS else f"{k}.json") for k in KINDS},
            **display_options(args, default_show=True),
        )
        return await LiveSession(opts).run()


def run_demo(args: argparse.Namespace) -> int:
    _configure_logging()
    out = args.out or Path("out") / f"demo-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"captioner demo: embedded server, a story interrupted at {args.interrupt_fraction:.0%}; output in {out}")
    result = asyncio.run(demo_session(out, args))
    print()
    print(summary(result))
    print(f"session log: {args.log or out / 'session.jsonl'}")
    return _report_error("demo", result)


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
