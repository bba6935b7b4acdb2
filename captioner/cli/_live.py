"""``captioner live`` and ``captioner demo``: options, and the session they run."""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
from pathlib import Path

from captioner.cli._args import (
    CliError, add_display_arguments, add_export_arguments, configure_logging, display_options, exports_from_args,
)
from captioner.core.render import FORMATS
from captioner.edges.client import DEFAULT_MODEL, OPENAI_URL
from captioner.edges.live_dialect import LIVE_MODEL
from captioner.edges.files import KINDS
from captioner.edges.session import LiveOptions, LiveResult, LiveSession, summary


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="auto",
                        help="audio output: auto (device if any, else virtual clock), virtual, or a device name/index")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="virtual clock speed factor (tests/CI; implies --output virtual when != 1)")
    parser.add_argument("--log", type=Path, default=None, metavar="FILE",
                        help="write the session log, JSON Lines (default: none for live; the demo writes "
                             "OUT/session.jsonl)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --log file")
    parser.add_argument("--transport", choices=("websocket", "webrtc"), default="websocket",
                        help="websocket (audio as events) or webrtc (SDP over HTTP, audio on media tracks)")
    add_display_arguments(parser)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="realtime endpoint, e.g. ws://127.0.0.1:8765/v1, or http://127.0.0.1:8766/v1 "
                             f"with --transport webrtc (default: {OPENAI_URL}, needs OPENAI_API_KEY)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model asked for in the URL")
    parser.add_argument("--beta", action="store_true", help="beta protocol (header OpenAI-Beta: realtime=v1)")
    parser.add_argument("--dialect", choices=("realtime", "live"), default="realtime",
                        help="realtime: the Realtime API (/v1/realtime); live: GPT-Live (/v1/live)")
    parser.add_argument("--say", action="append", default=[], metavar="TEXT",
                        help="send a user text turn and a response.create (repeatable: one turn after another; "
                             "default: none)")
    parser.add_argument("--instructions", default=None, metavar="TEXT",
                        help="system instructions for the session (default: the server's)")
    parser.add_argument("--mic", choices=("auto", "on", "off"), default="auto",
                        help="microphone: auto uses it when there is an input device")
    parser.add_argument("--local-vad", action="store_true",
                        help="interrupt when the microphone hears speech while the assistant is audible")
    parser.add_argument("--no-server-vad", dest="server_vad", action="store_false",
                        help="turn the server's voice activity detection off (default: on; it interrupts "
                             "the assistant when the user speaks)")
    parser.add_argument("--interrupt-at-ms", type=float, default=None, metavar="MS",
                        help="interrupt at this session time (default: never)")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="end once the --say turns have been answered and heard")
    parser.add_argument("--max-seconds", type=float, default=None, metavar="S",
                        help="end the session after this many seconds (default: no limit)")
    add_export_arguments(parser)
    _add_common(parser)


def run_live(args: argparse.Namespace) -> int:
    configure_logging()
    model = LIVE_MODEL if args.dialect == "live" and args.model == DEFAULT_MODEL else args.model
    opts = LiveOptions(
        url=args.url, transport=args.transport, model=model, beta=args.beta, say=list(args.say),
        dialect=args.dialect,
        instructions=args.instructions, output="virtual" if args.speed != 1 else args.output,
        speed=args.speed, mic=args.mic, local_vad=args.local_vad, server_vad=args.server_vad,
        interrupt_at_ms=args.interrupt_at_ms, exit_when_done=args.exit_when_done,
        max_seconds=args.max_seconds, log_path=args.log, overwrite_log=args.force,
        exports=exports_from_args(args),
        **display_options(args, default_show=True),
    )
    try:
        result = asyncio.run(LiveSession(opts).run())
    except RuntimeError as exc:  # e.g. no API key
        raise CliError(str(exc)) from exc
    print()
    print(summary(result))
    return _report_error("live", result)


def _report_error(command: str, result: LiveResult) -> int:
    """A session that ended on an error (its log and exports are written) fails the command."""
    if result.error is not None:
        raise CliError(result.error)
    return 0


DEMO_TURNS = ["Tell me a short story."]
DEMO_SPOKEN = "What happened next?"  # said into the microphone (espeak), captioned on the user track


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default: ./out/demo-<timestamp>)")
    parser.add_argument("--interrupt-fraction", type=float, default=0.6, metavar="F",
                        help="interrupt the first answer at this fraction of its audio (websocket)")
    parser.add_argument("--interrupt-after-ms", type=float, default=3000.0, metavar="MS",
                        help="webrtc: interrupt this long after the first answer starts playing (its length "
                             "is unknown until it has played)")
    parser.add_argument("--beta", action="store_true", help="beta protocol names")
    _add_common(parser)


async def demo_session(out: Path, args: argparse.Namespace) -> LiveResult:
    from captioner.server import serve_embedded, serve_webrtc

    # the server paces audio against wall time: keep it ahead of a sped-up virtual clock
    pace = 4.0 * max(1.0, args.speed)
    from captioner.server import espeak

    webrtc = args.transport == "webrtc"
    serve = serve_webrtc if webrtc else serve_embedded
    # a spoken user turn goes in as the microphone (WebSocket: input_audio_buffer.append)
    spoken = [espeak.synthesize(DEMO_SPOKEN, voice="en-us+m3", wpm=170).samples] \
        if espeak.available() and not webrtc else []
    async with serve(port=0, beta=args.beta, script="story", pace=pace, user_says=DEMO_SPOKEN) as url:
        opts = LiveOptions(
            url=url, transport=args.transport, model="embedded", beta=args.beta, spoken=spoken,
            say=list(DEMO_TURNS) if spoken else DEMO_TURNS + [DEMO_SPOKEN],
            output="virtual" if args.speed != 1 else args.output, speed=args.speed,
            mic="off", server_vad=bool(spoken), interrupt_fraction=None if webrtc else args.interrupt_fraction,
            interrupt_after_ms=args.interrupt_after_ms if webrtc else None,
            exit_when_done=True, max_seconds=60.0, key_interrupt=False,
            log_path=args.log or out / "session.jsonl", overwrite_log=args.force,
            exports={k: out / (f"captions.{k}" if k in FORMATS else f"{k}.json") for k in KINDS},
            **display_options(args, default_show=True),
        )
        return await LiveSession(opts).run()


def run_demo(args: argparse.Namespace) -> int:
    configure_logging()
    out = args.out or Path("out") / f"demo-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"captioner demo: embedded server, a story interrupted at {args.interrupt_fraction:.0%}, "
          f"then a spoken request; output in {out}")
    result = asyncio.run(demo_session(out, args))
    print()
    print(summary(result))
    print(f"session log: {args.log or out / 'session.jsonl'}")
    return _report_error("demo", result)
