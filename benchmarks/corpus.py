"""Ground-truth corpus: realtime session logs whose every word's true onset is known.

Each session is a DESIGN.md session log (server events only) plus a sidecar truth JSON
giving, for every transcript delta, where its first word really starts (item-relative and
on the session clock). Audio comes from espeak-ng (exact word sample positions) or from
the TIMIT sample in ``/work/shared/data/timit-dev`` (hand-placed word boundaries), so an
estimator can be scored without trusting any model of speech.

Deterministic from a seed; nothing here is committed — write it to a temp dir::

    python benchmarks/corpus.py OUT_DIR [--seed 1] [--sessions 24] [--timit]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import random
import re
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from captioner.core.wire import resample
from captioner.server import espeak as tts

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
TIMIT_DIR = Path(os.environ.get("CAPTIONER_TIMIT", "/work/shared/data/timit-dev"))
VOICES = ["en-us", "en", "en+f3", "en-gb-x-rp", "en-us+m3", "en-gb-scotland+f2", "en-029"]
PATTERNS = ["text_ahead", "interleaved", "text_after", "text_at_end"]

# Model-like answers: numbers, currency, times, acronyms, abbreviations, heavy punctuation.
SENTENCES = [
    "Sure, I can help with that.",
    "Your flight leaves at 10:45 from gate B12, so you have about 2 hours.",
    "The total comes to $3,482.50, including tax.",
    "Well... honestly? I'm not sure; let me check.",
    "NASA and the FBI both published reports in 2019.",
    "Dr. Smith said the meeting moved to Tuesday, March 3rd.",
    "Take 250 mg twice a day - no more, no less.",
    "The population grew by 7.5% between 1990 and 2020.",
    "Okay! First, preheat the oven to 220 degrees; then, wait.",
    "Interoperability between implementations is notoriously difficult to guarantee.",
    "It is roughly 4,000 kilometres from Lisbon to Moscow.",
    "Call me at 555-0142, or email support@example.com.",
    "The API returns JSON, not XML, e.g. for the v2 endpoints.",
    "Yes.",
    "Hmm, that depends on the weather, the traffic, and your budget.",
    "In 1969, Apollo 11 landed on the Moon with 3 astronauts aboard.",
    "The quick brown fox jumps over the lazy dog.",
    "Remember: always back up your data before upgrading!",
    "Unfortunately, the restaurant closes at 9 p.m. on Sundays.",
    "The recipe needs 2 cups of flour, 3 eggs, and a pinch of salt.",
    "Photosynthesis converts sunlight, water, and carbon dioxide into glucose.",
    "Mount Everest is 8,849 metres tall.",
    "Let's see... 12 times 12 is 144.",
    "Your order, number 48213, ships on Friday.",
    "The UN was founded in 1945 by 51 countries.",
    "Absolutely; I'll remind you tomorrow morning at 7:30.",
    "Temperatures will drop to minus 5 tonight, so dress warmly.",
    "That's a great question, and the answer is surprisingly simple.",
]

GA_NAMES = {
    "item": "conversation.item.added",
    "audio": "response.output_audio.delta",
    "audio_done": "response.output_audio.done",
    "text": "response.output_audio_transcript.delta",
    "text_done": "response.output_audio_transcript.done",
}
BETA_NAMES = {
    "item": "conversation.item.created",
    "audio": "response.audio.delta",
    "audio_done": "response.audio.done",
    "text": "response.audio_transcript.delta",
    "text_done": "response.audio_transcript.done",
}

_TOKEN = re.compile(r"\s*(?:\$?\d[\d,.:%-]*\d%?|\$?\d%?|[A-Za-z]+(?:'[A-Za-z]+)?|[^\sA-Za-z\d])")


@dataclass
class TruthDelta:
    index: int
    text: str
    arrived_ms: float
    onset_item_ms: Optional[float]  # None: the delta starts no word (punctuation, word piece)
    onset_ms: Optional[float]  # session clock


@dataclass
class TruthItem:
    item_id: str
    start_ms: float  # session ms of the item's first played sample (playout delay 0)
    audio_ms: float
    wpm: list[int]
    deltas: list[TruthDelta] = field(default_factory=list)


@dataclass
class Session:
    name: str
    kind: str  # "espeak" | "timit"
    pattern: str
    names: str  # "ga" | "beta"
    voice: str
    items: list[TruthItem]
    log: list[dict]  # session log lines, DESIGN.md format

    def truth_json(self) -> dict:
        data = asdict(self)
        del data["log"]
        return data


def tokenize(text: str, rng: random.Random) -> list[tuple[int, int]]:
    """Char spans of model-like tokens: leading space kept, punctuation split, long words cut."""
    spans: list[tuple[int, int]] = []
    for m in _TOKEN.finditer(text):
        a, b = m.span()
        word_start = a + len(m.group()) - len(m.group().lstrip())
        if m.group().strip().isalpha() and b - word_start > 7:
            cut = word_start + rng.randint(3, 5)
            spans.append((a, cut))
            while b - cut > 5:
                nxt = cut + rng.randint(3, 5)
                spans.append((cut, nxt))
                cut = nxt
            spans.append((cut, b))
        else:
            spans.append((a, b))
    return spans


def group_deltas(spans: list[tuple[int, int]], rng: random.Random) -> list[tuple[int, int]]:
    """Servers send one to a few tokens per delta."""
    out, i = [], 0
    while i < len(spans):
        n = 1 if rng.random() < 0.7 else 2
        out.append((spans[i][0], spans[min(i + n, len(spans)) - 1][1]))
        i += n
    return out


def onsets_for(
    text: str, deltas: list[tuple[int, int]], word_starts: list[tuple[int, int]]
) -> list[Optional[int]]:
    """True onset sample of each delta (``word_starts``: (char, sample)).

    A delta has one when a word starts in it before any other letter or digit (" time",
    ", and"); a delta that continues a word ("ing") or is only punctuation has none.
    """
    out: list[Optional[int]] = []
    for a, b in deltas:
        inside = [(c, s) for c, s in word_starts if a <= c < b]
        if not inside:
            out.append(None)
            continue
        c0 = min(c for c, _ in inside)
        lead = text[a:c0]
        glued = a > 0 and text[a - 1].isalnum() and text[a].isalnum()
        ok = not any(ch.isalnum() for ch in lead) and not glued
        out.append(min(s for c, s in inside if c == c0) if ok else None)
    return out


def _espeak_item(rng: random.Random, voice: str) -> tuple[str, np.ndarray, list[tuple[int, int]], list[int]]:
    """One assistant item: 1-3 sentences, each piece at its own rate (speed changes)."""
    chosen = rng.sample(SENTENCES, rng.randint(1, 3))
    text_parts, audio_parts, word_starts, rates = [], [], [], []
    char_off, sample_off = 0, 0
    for sentence in chosen:
        pieces = [sentence]
        if len(chosen) == 1 and ", " in sentence and rng.random() < 0.6:  # change speed mid-sentence
            k = sentence.index(", ") + 1
            pieces = [sentence[:k], sentence[k + 1 :]]
        for piece in pieces:
            wpm = rng.randint(120, 300)
            speech = tts.synthesize(piece, voice=voice, wpm=wpm, sample_rate=SAMPLE_RATE)
            for w in speech.words:
                if 0 <= w.text_start < len(piece):
                    word_starts.append((char_off + w.text_start, sample_off + w.sample))
            text_parts.append(piece)
            audio_parts.append(speech.samples)
            # espeak trims each utterance; a speaker pauses between sentences and clauses.
            gap_ms = rng.uniform(120, 400) if piece.endswith((".", "!", "?")) else rng.uniform(40, 150)
            audio_parts.append(np.zeros(int(gap_ms * SAMPLE_RATE / 1000), np.int16))
            sample_off += len(audio_parts[-1])
            rates.append(wpm)
            char_off += len(piece) + 1
            sample_off += len(speech.samples)
    return " ".join(text_parts), np.concatenate(audio_parts), word_starts, rates


def _timit_utterances() -> list[Path]:
    if not TIMIT_DIR.is_dir():
        return []
    return sorted(p for p in TIMIT_DIR.glob("*.json") if p.with_suffix(".wav").exists())


def _timit_item(path: Path) -> tuple[str, np.ndarray, list[tuple[int, int]], list[int]]:
    meta = json.loads(path.read_text())
    with wave.open(str(path.with_suffix(".wav"))) as w:
        rate = w.getframerate()
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    audio = resample(raw, rate, SAMPLE_RATE)
    text = " ".join(w["word"] for w in meta["words"])
    word_starts, pos = [], 0
    for w in meta["words"]:
        c = text.index(w["word"], pos)
        pos = c + len(w["word"])
        word_starts.append((c, int(round(w["start_ms"] * SAMPLE_RATE / 1000))))
    return text, audio, word_starts, []


def _b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode("ascii")


def build_session(
    name: str,
    kind: str,
    items: list[tuple[str, np.ndarray, list[tuple[int, int]], list[int]]],
    pattern: str,
    names: str,
    voice: str,
    rng: random.Random,
) -> Session:
    """Turn synthesised items into a server-event log with the given text arrival pattern."""
    ev = GA_NAMES if names == "ga" else BETA_NAMES
    timed: list[tuple[float, int, dict]] = []  # (t_ms, seq, event) - seq keeps ties stable
    seq = 0

    def emit(t_ms: float, event: dict) -> None:
        nonlocal seq
        timed.append((t_ms, seq, event))
        seq += 1

    truth_items: list[TruthItem] = []
    t = rng.uniform(200, 600)  # first response request
    prev_end = 0.0
    for n, (text, audio, word_starts, rates) in enumerate(items):
        rid, iid = f"resp_{name}_{n}", f"item_{name}_{n}"
        base = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        emit(t, {"type": "response.created", "response": {"id": rid, "status": "in_progress"}})
        emit(t + 1, {"type": ev["item"], "item": {"id": iid, "type": "message", "role": "assistant",
                                                   "status": "in_progress", "content": []}})
        # Audio: 100-600 ms chunks, sent 2-5x faster than real time after a first latency.
        send = t + rng.uniform(250, 700)
        chunk_times: list[tuple[int, float]] = []  # (first sample, send ms)
        pos = 0
        while pos < len(audio):
            size = int(rng.uniform(100, 600) * SAMPLE_RATE / 1000)
            chunk = audio[pos : pos + size]
            emit(send, dict(base, type=ev["audio"], delta=_b64(chunk)))
            chunk_times.append((pos, send))
            pos += len(chunk)
            send += len(chunk) * 1000 / SAMPLE_RATE / rng.uniform(2, 5)
        audio_end_sent = send
        start_ms = max(chunk_times[0][1], prev_end)
        audio_ms = len(audio) * 1000 / SAMPLE_RATE
        prev_end = start_ms + audio_ms

        def sent_at(sample: int) -> float:
            return max(ts for first, ts in chunk_times if first <= sample)

        spans = group_deltas(tokenize(text, rng), rng)
        onsets = onsets_for(text, spans, word_starts)
        arrivals: list[float] = []
        last = t + 5
        for k, onset in enumerate(onsets):
            if pattern == "text_ahead":
                at = t + 20 + 8 * k
            elif pattern == "text_at_end":
                at = audio_end_sent + 50 + 3 * k
            elif onset is None:
                at = last + 1
            elif pattern == "interleaved":
                at = sent_at(onset) - rng.uniform(0, 80)
            else:  # text_after: each word's text arrives well after the audio carrying it
                at = sent_at(onset) + rng.uniform(300, 900)
            at = max(at, last + 0.5)
            arrivals.append(at)
            last = at
        deltas = []
        for k, ((a, b), onset, at) in enumerate(zip(spans, onsets, arrivals)):
            emit(at, dict(base, type=ev["text"], delta=text[a:b]))
            onset_item = None if onset is None else onset * 1000 / SAMPLE_RATE
            deltas.append(TruthDelta(k, text[a:b], round(at, 3), onset_item,
                                     None if onset_item is None else start_ms + onset_item))
        done = max(audio_end_sent, last) + 20
        emit(done, dict(base, type=ev["audio_done"]))
        emit(done + 1, dict(base, type=ev["text_done"], transcript=text[spans[0][0]:]))
        emit(done + 2, {"type": "response.done", "response": {"id": rid, "status": "completed"}})
        truth_items.append(TruthItem(iid, start_ms, audio_ms, rates, deltas))
        t = max(done, prev_end) + rng.uniform(400, 1500)

    timed.sort(key=lambda x: (x[0], x[1]))
    lines = [{"t": round(tm / 1000, 6), "from": "server", "event": e} for tm, _, e in timed]
    return Session(name, kind, pattern, names, voice, truth_items, lines)


NOISES = ("white", "pink")


def _noisy(item: tuple[str, np.ndarray, list[tuple[int, int]], list[int]], snr_db: Optional[float],
           noise: np.random.Generator, color: str = "white") -> tuple[str, np.ndarray, list[tuple[int, int]], list[int]]:
    """The item with noise ``snr_db`` under its speech (RMS over samples louder than 5 % of
    its peak: the pauses do not count), as on a noisy channel; None: as it is. "pink"
    noise has equal power per octave (a room, a fan), most of it where speech is."""
    if snr_db is None:
        return item
    text, audio, word_starts, rates = item
    x = audio.astype(np.float64)
    speech = x[np.abs(x) > 0.05 * np.abs(x).max()] if len(x) and np.abs(x).max() > 0 else x
    rms = float(np.sqrt(np.mean(speech ** 2))) if len(speech) else 0.0
    n = noise.normal(0.0, 1.0, len(x))
    if color == "pink" and len(x) > 1:
        spectrum = np.fft.rfft(n)
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        spectrum[0] = 0.0
        n = np.fft.irfft(spectrum, len(x))
        n /= np.std(n) or 1.0
    noisy = x + n * rms / 10 ** (snr_db / 20)
    return text, np.clip(noisy, -32768, 32767).astype(np.int16), word_starts, rates


def generate(seed: int = 1, sessions: int = 24, timit: bool = True,
             snr_db: Optional[float] = None, noise_color: str = "white") -> Iterator[Session]:
    """Yield sessions: ``sessions`` espeak ones, then (if present) TIMIT ones, every pattern;
    with ``snr_db``, the same sessions with noise (``noise_color``) that far under the speech."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)  # its own generator: the same sessions, noise or not
    for s in range(sessions):
        pattern = PATTERNS[s % len(PATTERNS)]
        names = "ga" if (s // len(PATTERNS)) % 2 == 0 else "beta"
        voice = VOICES[s % len(VOICES)]
        items = [_noisy(_espeak_item(rng, voice), snr_db, noise, noise_color) for _ in range(rng.randint(2, 3))]
        yield build_session(f"es{s:03d}", "espeak", items, pattern, names, voice, rng)
    utterances = _timit_utterances() if timit else []
    if timit and not utterances:
        log.warning("no TIMIT data at %s: real-speech sessions skipped", TIMIT_DIR)
    for s, first in enumerate(range(0, len(utterances), 4)):
        items = [_noisy(_timit_item(p), snr_db, noise, noise_color) for p in utterances[first : first + 4]]
        pattern = PATTERNS[s % len(PATTERNS)]
        yield build_session(f"tm{s:03d}", "timit", items, pattern, "ga" if s % 2 else "beta", "timit", rng)


def write(session: Session, out_dir: Path) -> Path:
    """Write ``NAME.jsonl`` (the session log) and ``NAME.truth.json``; returns the log path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"{session.name}.jsonl"
    with log_path.open("w") as f:
        for line in session.log:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
    (out_dir / f"{session.name}.truth.json").write_text(json.dumps(session.truth_json(), indent=1))
    return log_path


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sessions", type=int, default=24)
    p.add_argument("--no-timit", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n = 0
    for session in generate(args.seed, args.sessions, timit=not args.no_timit):
        write(session, args.out_dir)
        n += 1
    print(f"wrote {n} sessions to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
