"""A long seeded fuzz run: a million events and more into CaptionEngine, invariants checked.

Sessions of random and hostile events (GA and beta names, WebSocket and WebRTC, track
audio, marks, user speech, out-of-band responses, malformed fields, non-finite and huge
numbers, odd audio sizes, client truncations, device pulls) are fed to fresh engines;
after each session the invariants of tests/fuzzing.py are checked (no exception escapes
for wire data; each track ordered and non-overlapping; nothing before its item or past
a cut; strict timeline JSON) and the session is exported to SRT, ASS and WebVTT. Run::

    .venv/bin/python benchmarks/fuzz.py [--events 1000000] [--seed 1] [--estimator proportional|default]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioner.core import CaptionEngine  # noqa: E402
from captioner.core.estimators import ProportionalEstimator, default_estimator  # noqa: E402
from captioner.core.render import export_captions  # noqa: E402
from tests.fuzzing import StreamMaker, check_invariants, feed  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--session-events", type=int, default=400, help="events per session (default 400)")
    p.add_argument("--estimator", choices=("proportional", "default"), default="proportional",
                   help="proportional: the engine's logic at speed; default: forced alignment too")
    args = p.parse_args(argv)
    logging.disable(logging.WARNING)  # every skipped event is logged: millions of lines
    factory = ProportionalEstimator if args.estimator == "proportional" else default_estimator
    rng = random.Random(args.seed)
    done = sessions = captions = 0
    t0 = time.perf_counter()
    while done < args.events:
        engine = CaptionEngine(transport=rng.choice(["websocket", "webrtc"]), estimator_factory=factory)
        maker = StreamMaker(random.Random(rng.getrandbits(64)))
        n = min(args.session_events, args.events - done)
        for kind, payload in maker.stream(n):
            feed(engine, kind, payload, maker.t)
        engine.finish(maker.t)
        engine.advance(maker.t + 60_000)
        engine.settle()
        check_invariants(engine)
        caps = engine.captions()
        for fmt in ("srt", "ass", "vtt"):
            export_captions(caps, fmt)
        done += n
        sessions += 1
        captions += len(caps)
    elapsed = time.perf_counter() - t0
    print(f"{done} events in {sessions} sessions ({captions} captions), estimator {args.estimator}: "
          f"invariants held; {elapsed:.1f} s ({done / elapsed:,.0f} events/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
