"""``captioner overlay LOG``: a recorded session replayed in real time to a browser overlay."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from captioner.cli._args import report_skipped
from captioner.core import replay
from captioner.core.render import MODES
from captioner.edges.displays import DEFAULT_OVERLAY_PORT, Displays
from captioner.edges.files import read_session_log
from captioner.edges.overlay import OverlayServer, RealTimeObserver
from captioner.edges.terminal import TerminalDisplay


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG", help="session log (JSON Lines) to replay at real-time speed")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (another than 127.0.0.1 serves the local network)")
    parser.add_argument("--port", type=int, default=DEFAULT_OVERLAY_PORT, help="TCP port (0: any free port)")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="let pages from ORIGIN (e.g. http://host:port, or null) read the captions "
                             "(repeatable; default: only the overlay's own pages and clients that send no Origin)")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed (1 = real time)")
    parser.add_argument("--playout-delay-ms", type=float, default=0.0, metavar="P",
                        help="delay between an item's first audio chunk arriving and playing")
    parser.add_argument("--no-wait", action="store_true", help="start at once instead of when a page connects")
    parser.add_argument("--hold", type=float, default=3.0, metavar="SECONDS",
                        help="seconds to keep serving after the end")
    parser.add_argument("--show", nargs="?", const="rollup", choices=MODES, default=None,
                        help="also show subtitles in the terminal in this mode (default: no; rollup when no "
                             "mode is given)")
    parser.add_argument("--lines", type=int, default=2, help="subtitle lines in the terminal")


def run(args: argparse.Namespace) -> int:
    records, errors = read_session_log(args.log)  # OSError, SessionLogError: one line from main()
    report_skipped(args.log, errors)
    observer_box: list[RealTimeObserver] = []
    server = OverlayServer(lambda: observer_box[0].clock(), host=args.host, port=args.port,
                           clock_rate=args.speed, allow_origins=args.allow_origin).start()
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
