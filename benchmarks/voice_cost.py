"""What the embedded server's voices cost: synthesis time per paragraph against its audio.

Synthesises every paragraph of the built-in story with each voice (after one warm-up call,
which is what the server does before it listens) and prints the real-time factor
(synthesis time / audio duration; below 1 is faster than real time).

    .venv/bin/python benchmarks/voice_cost.py
    .venv/bin/python benchmarks/voice_cost.py --voices piper:joe --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from captioner.server._script import STORY
from captioner.server._voice import VoiceUnavailable, load_voice


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", nargs="+", default=["piper:joe", "espeak:en-us"])
    ap.add_argument("--repeat", type=int, default=3, help="passes over the story (default: %(default)s)")
    args = ap.parse_args()
    for spec in args.voices:
        try:
            voice = load_voice(spec)
            t0 = time.perf_counter()
            voice.load()
            load_s = time.perf_counter() - t0
        except VoiceUnavailable as exc:
            print(f"{spec}: unavailable ({exc})")
            continue
        voice.synthesize("Warming up.", 24000)
        rtf, secs, audio = [], [], []
        for _ in range(args.repeat):
            for text in STORY:
                t0 = time.perf_counter()
                speech = voice.synthesize(text, 24000)
                dt = time.perf_counter() - t0
                secs.append(dt)
                audio.append(speech.duration_ms / 1000)
                rtf.append(dt / (speech.duration_ms / 1000))
        print(f"{spec}: load {load_s:.2f} s; per paragraph ({len(STORY)} paragraphs x {args.repeat}): "
              f"synthesis {statistics.median(secs):.2f} s median for {statistics.median(audio):.1f} s of audio, "
              f"real-time factor median {statistics.median(rtf):.3f}, max {max(rtf):.3f}")


if __name__ == "__main__":
    main()
