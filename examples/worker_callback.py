"""The engine next to an audio callback: alignment in a worker process, never on the audio path.

    python examples/worker_callback.py

A thread plays the part of a sound card's callback, pulling 10 ms of frames on schedule
with `engine.play(n, dac_ms)` under the lock the app shares with the engine; the session's
events arrive on the main thread (here from the bundled log, at 4x real time). Forced
alignment runs in a separate process (`EstimateWorker`), so the callback never waits for
it; captions are answered at once and become exact as the worker catches up.
"""

import threading
import time

from captioner import CaptionEngine, DeferredEstimator, parse_session_log
from captioner.edges.worker import EstimateWorker
from captioner.examples import example_log

SPEED = 4.0
with open(example_log(), encoding="utf-8") as fh:
    records, _ = parse_session_log(fh)

lock = threading.RLock()                     # the lock the audio callback takes too
engine = CaptionEngine(estimator_factory=DeferredEstimator)
worker = EstimateWorker(engine, lock)
worker.start()
t0 = time.monotonic()


def now_ms() -> float:
    return (time.monotonic() - t0) * 1000.0 * SPEED


late_ms: list[float] = []
stop = threading.Event()


def audio_callback_thread() -> None:         # stands in for sounddevice's output callback
    frames, block_ms, k = engine.sample_rate // 100, 10.0, 0
    while not stop.is_set():
        due = k * block_ms
        time.sleep(max(0.0, (due - now_ms()) / SPEED / 1000.0))
        with lock:
            engine.play(frames, due)         # the frames' DAC time on the session clock
        late_ms.append(max(0.0, now_ms() - due) / SPEED)
        k += 1


player = threading.Thread(target=audio_callback_thread, daemon=True)
player.start()
for record in records:
    time.sleep(max(0.0, (record.t_ms - now_ms()) / SPEED / 1000.0))
    with lock:
        if record.source == "server":
            engine.receive(record.event, now_ms())
        else:
            engine.sent(record.event, now_ms())
with lock:
    engine.finish(now_ms())
while not engine.idle():
    time.sleep(0.05)
stop.set()
player.join()
worker.settle()                              # the session is over: final timing for exports
worker.close()
with lock:
    engine.settle()
    captions = engine.captions()
print(f"{len(captions)} captions; the callback was served at most {max(late_ms):.1f} ms late")
print("".join(c.text for c in captions))
