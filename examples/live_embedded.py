"""Caption a live session against the embedded realtime server (no API key, no sound card).

    python examples/live_embedded.py

The embedded server speaks the Realtime protocol with an espeak-ng voice; the session asks
for a story, plays it on a virtual real-time clock (4x speed here), interrupts it half way
and prints what was heard, caption by caption.
"""

import asyncio

from captioner.edges.session import LiveOptions, LiveSession
from captioner.server import serve_embedded


async def main() -> None:
    async with serve_embedded(port=0, script="story", pace=16.0) as url:   # ws://127.0.0.1:PORT/v1
        options = LiveOptions(url=url, model="embedded", say=["Tell me a story."], output="virtual",
                              speed=4.0, mic="off", server_vad=False, key_interrupt=False,
                              interrupt_fraction=0.5, exit_when_done=True, max_seconds=30)
        result = await LiveSession(options).run()
    for c in result.captions:
        print(f"{c.start_ms:8.0f} {c.end_ms:8.0f}  {c.text!r}" + ("  \u2014 cut" if c.truncated else ""))
    for cut in result.interruptions:
        if cut.truncate is not None:
            print(f"interrupted: {cut.truncate.to_wire()}")


asyncio.run(main())
