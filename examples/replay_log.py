"""Feed a recorded session log through the engine and print its captions.

    python examples/replay_log.py                 # the bundled example (a story cut at 2449 ms)
    python examples/replay_log.py session.jsonl   # any session log

What `captioner replay` does, by hand: each event goes to the engine at the time it was
logged, a virtual player plays the audio in real time, and the captions come out timed
against what was heard.
"""

import sys

from captioner import CaptionEngine, parse_session_log
from captioner.examples import example_log

path = sys.argv[1] if len(sys.argv) > 1 else example_log()
with open(path, encoding="utf-8") as fh:
    records, errors = parse_session_log(fh)

engine = CaptionEngine()
for record in records:                       # {"t": s, "from": "server"|"client", "event": {...}}
    engine.advance(record.t_ms)              # the virtual player plays audio up to this moment
    if record.source == "server":
        for event in engine.receive(record.event, record.t_ms):
            engine.sent(event, record.t_ms)  # what the engine asks to send (none in a replay)
    else:
        engine.sent(record.event, record.t_ms)  # e.g. the app's conversation.item.truncate
end = records[-1].t_ms
engine.finish(end)                           # the log is over: play out what was received
engine.advance(end + 60_000)
engine.settle()                              # finish the forced alignment

for c in engine.captions():
    mark = " \u2014 [interrupted]" if c.truncated else ""
    print(f"{c.start_ms:8.0f} {c.end_ms:8.0f}  {c.role:9} {c.text!r}{mark}")
