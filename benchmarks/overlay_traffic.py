"""What the browser overlay sends a page over one session: messages and bytes, by kind.

The corpus (``corpus.py``, seed 1) is chained into one session of about ``--captions``
transcript deltas (as ``perf.py`` chains it), replayed in virtual time the way
``captioner overlay`` drives its displays (the engine observed every 20 ms, the overlay
shown each time), with one page connected (a websocket client reading everything). After
each revision that changes the captions the run waits until the page has it, so every
revision reaches the page (the most a page can be sent: a slow page gets fewer). At the
end the page's layout, rebuilt from what it got, is compared with the engine's::

    .venv/bin/python benchmarks/overlay_traffic.py [--captions 440] [--mode rollup]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
from perf import chain  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from captioner.core import replay  # noqa: E402
from captioner.core.render import layout  # noqa: E402
from captioner.core.wire import parse_session_log  # noqa: E402
from captioner.edges import overlay  # noqa: E402
from captioner.edges.overlay import OverlayServer  # noqa: E402


class Page:
    """A page's websocket: counts what arrives and keeps the layout it would show."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url, max_size=None)
        self.counts: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.largest = 0
        self.layout, self.revision = None, None
        self.applied = True
        self.got = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        apply = getattr(overlay, "apply_message", None)  # absent before diffs: every message is whole
        try:
            for raw in self.ws:
                msg = json.loads(raw)
                kind = msg["type"]
                self.counts[kind] += 1
                self.bytes[kind] += len(raw.encode() if isinstance(raw, str) else raw)
                if kind != "clock":
                    self.largest = max(self.largest, len(raw))
                    with self.got:
                        if apply is not None:
                            self.layout, self.revision, ok = apply(self.layout, self.revision, msg)
                            self.applied = self.applied and ok
                        else:
                            self.layout, self.revision = msg["layout"], msg["revision"]
                        self.got.notify_all()
        except Exception:  # noqa: BLE001 - the server closed at the end
            pass

    def wait_for(self, revision: int, timeout: float = 10.0) -> None:
        with self.got:
            if not self.got.wait_for(lambda: self.revision == revision, timeout):
                raise RuntimeError(f"the page never got revision {revision}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--captions", type=int, default=440, help="transcript deltas in the session (about)")
    p.add_argument("--mode", choices=("rollup", "popon"), default="rollup")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    sessions = list(corpus.generate(args.seed, 24, timit=False))
    deltas = sum(sum(1 for line in s.log if line["event"].get("type", "").endswith("transcript.delta"))
                 for s in sessions)
    audio_s = sum(i.audio_ms for s in sessions for i in s.items) / 1000
    with tempfile.TemporaryDirectory(prefix="captioner-overlay-") as tmp:
        path = Path(tmp) / "session.jsonl"
        chain(sessions, audio_s * args.captions / max(deltas, 1), path)
        records, _ = parse_session_log(path.read_text().splitlines())
    server = OverlayServer(lambda: 0.0, port=0, clock_rate=0.0, sync_interval_s=3600.0).start()
    try:
        page = Page(f"ws://127.0.0.1:{server.port}/ws?mode={args.mode}&lines=2&width=42")
        while server.clients < 1:
            time.sleep(0.01)
        revisions = 0

        def observe(engine, now_ms: float) -> None:
            nonlocal revisions
            before = server.sent_revision
            server.show(engine.captions, engine.revision, now_ms)
            if server.sent_revision != before:
                revisions += 1
                page.wait_for(server.sent_revision)

        t0 = time.monotonic()
        engine = replay(records, observe=observe, observe_step_ms=20)
        server.show(engine.captions, engine.revision + 1, 0.0)  # the settled timeline
        if server.sent_revision is not None:
            page.wait_for(server.sent_revision)
        wall = time.monotonic() - t0
        captions = engine.captions()
        same = page.layout == json.loads(json.dumps(layout(captions, args.mode, 42, 2).to_json()))
    finally:
        server.close()
    kinds = {k: (page.counts[k], page.bytes[k]) for k in sorted(page.counts) if k != "clock"}
    total_n, total_b = sum(n for n, _ in kinds.values()), sum(b for _, b in kinds.values())
    print(f"session: {len(captions)} captions, {revisions} caption revisions sent, mode {args.mode} [{wall:.0f} s]")
    print(f"caption messages: {total_n}, {total_b / 1e6:.2f} MB, largest {page.largest / 1e3:.1f} kB; by kind: "
          + ", ".join(f"{k} {n} ({b / 1e3:.0f} kB)" for k, (n, b) in kinds.items()))
    print(f"page's layout = the engine's: {'yes' if same and page.applied else 'NO'}")
    return 0 if same and page.applied else 1


if __name__ == "__main__":
    sys.exit(main())
