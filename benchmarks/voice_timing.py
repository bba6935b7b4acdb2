"""Are the server's word times right? Its ``duration_ms`` against forced alignment.

For each paragraph of the built-in story, the server's voice speaks it and the server's
tokenizer times every transcript delta (:func:`captioner.server._speech.time_tokens`, the
``duration_ms`` that ``--duration-ms`` sends); pocketsphinx forced alignment (the engine's
estimator, final pass) of the same audio and deltas is the independent reference. Prints
the difference of word-delta starts (median / p95 / max, ms) per voice: for espeak-ng the
server's times are exact, so its row shows the reference's own error.

    .venv/bin/python benchmarks/voice_timing.py
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from captioner.core.estimators._forced import ForcedAlignEstimator
from captioner.server._script import STORY
from captioner.server._speech import time_tokens, tokenize
from captioner.server._voice import VoiceUnavailable, load_voice

RATE = 24000


def differences(spec: str, repeat: int) -> list[float]:
    voice = load_voice(spec)
    voice.load()
    out: list[float] = []
    for _ in range(repeat):
        for text in STORY:
            speech = voice.synthesize(text, RATE)
            timed = time_tokens(tokenize(text), speech)
            est = ForcedAlignEstimator(RATE)
            est.add_audio(speech.samples)
            for tok in timed:
                est.add_text(tok.text)
            est.complete(audio=True, text=True)
            est.step(None)  # all the pending work: the final alignment
            spans = est.spans()
            server = np.cumsum([0] + [t.n_samples for t in timed])[:-1] * 1000.0 / RATE
            for tok, start, (ref, _) in zip(timed, server, spans):
                if any(c.isalnum() for c in tok.text) and tok.text.startswith(" ") or tok is timed[0]:
                    out.append(abs(start - ref))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", nargs="+", default=["piper:joe", "espeak:en-us"])
    ap.add_argument("--repeat", type=int, default=2, help="passes over the story (default: %(default)s)")
    args = ap.parse_args()
    for spec in args.voices:
        try:
            d = sorted(differences(spec, args.repeat))
        except VoiceUnavailable as exc:
            print(f"{spec}: unavailable ({exc})")
            continue
        p95 = d[int(round(0.95 * (len(d) - 1)))]
        print(f"{spec}: {len(d)} word starts; |server - forced alignment| median {statistics.median(d):.0f} ms, "
              f"p95 {p95:.0f} ms, max {d[-1]:.0f} ms")


if __name__ == "__main__":
    main()
