"""Write SRT, ASS (karaoke) and WebVTT subtitles and the timeline JSON for a session log.

    python examples/export_subtitles.py [LOG] [OUT_DIR]
"""

import json
import sys
from pathlib import Path

from captioner import export_captions, parse_session_log, replay
from captioner.examples import example_log

log = Path(sys.argv[1]) if len(sys.argv) > 1 else example_log()
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("out") / "export-example"
out.mkdir(parents=True, exist_ok=True)

with open(log, encoding="utf-8") as fh:
    records, _ = parse_session_log(fh)
engine = replay(records)                     # plays the log as a live player would, then settles
captions = engine.captions()
for fmt in ("srt", "ass", "vtt"):
    (out / f"captions.{fmt}").write_text(export_captions(captions, fmt), encoding="utf-8")
(out / "timeline.json").write_text(json.dumps(engine.timeline().to_json(), indent=1))
print(f"{len(captions)} captions -> {out}/captions.srt, .ass, .vtt and timeline.json")
