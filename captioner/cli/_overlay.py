"""``captioner overlay LOG``: a recorded session replayed in real time to a browser overlay."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from captioner.core import replay
from captioner.core.render import MODES
from captioner.core.wire import parse_session_log
from captioner.edges.displays import Displays
from captioner.edges.overlay import OverlayServer, RealTimeObserver
from captioner.edges.terminal import TerminalDisplay

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG", help="session log (JSON Lines) to replay at real-time speed")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed (1 = real time)")
    parser.add_argument("--playout-delay-ms", type=float, default=0.0)
    parser.add_argument("--no-wait", action="store_true", help="start at once instead of when a page connects")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds to keep serving after the end")
    parser.add_argument("--show", nargs="?", const="rollup", choices=MODES, default=None,
                        help="also show subtitles in the terminal")
    parser.add_argument("--lines", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.log, encoding="utf-8") as fh:
            records, errors = parse_session_log(fh)
    except OSError as exc:
        print(f"captioner overlay: {exc}", file=sys.stderr)
        return 2
    for err in errors:
        log.info("session log: %s", err)
    observer_box: list[RealTimeObserver] = []
    server = OverlayServer(lambda: observer_box[0].clock(), host=args.host, port=args.port,
                           clock_rate=args.speed).start()
    displays: list[Any] = [server]
    if args.show:
        displays.append(TerminalDisplay(args.show, max(1, args.lines)))
    group = Displays(displays, lambda: observer_box[0].clock())
    observer = RealTimeObserver(group, args.speed)
    observer_box.append(observer)
    print(f"caption overlay: {server.url()}  (OBS: add it as a browser source)", file=sys.stderr)
    try:
        if not args.no_wait:
            print("waiting for a page to connect ...", file=sys.stderr)
            while not server.client_connected.wait(0.5):
                pass
        engine = replay(records, playout_delay_ms=args.playout_delay_ms, observe=observer, observe_step_ms=20)
        group.update(engine)
        time.sleep(max(0.0, args.hold))
    except KeyboardInterrupt:
        pass
    finally:
        group.close()
    return 0
