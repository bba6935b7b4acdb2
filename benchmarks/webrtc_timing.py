"""WebRTC caption timing against ground truth: with the track, marks only, and interruption.

Builds WebRTC-shaped logs from the sessions of ``benchmarks/corpus.py`` (espeak-ng and
TIMIT speech whose true word onsets are known), plus sessions spoken by a neural voice
(Piper, :func:`piper_sessions`: word onsets from its phoneme alignments) and scores caption onsets as
``benchmarks/timing.py`` does:

* **track**: the same speech delivered as ``captioner.track_audio.delta`` chunks of 35 ms
  in real time (silence between answers, a little noise throughout, as a decoded Opus
  track has), ``output_audio_buffer.started`` / ``.stopped`` leading the audio they mark by
  60-150 ms, no audio events; transcript deltas in the corpus's arrival patterns. Scored
  beside the WebSocket log of the same session (same speech, same estimator), and again
  with the track through Opus the way the embedded server and the client pass it
  (soxr to 48 kHz, aiortc's Opus encoder and decoder, the client's ``TrackAudio``).
* **marks only**: the same logs without any audio (what a browser records), with the
  corpus's arrival patterns and with text leading playback by 0.5-3 s; beside the text-only
  baselines of timing.py (shown on arrival, 3.83 syllables/s from the true audio start).
* **interruption** (``--loopback N``): N live sessions over real WebRTC on 127.0.0.1
  (aiortc client <-> the embedded server, virtual player recording what it played),
  interrupted mid-answer; the truncate's ``audio_end_ms`` against the last item sample the
  player handed out, located in the item's received audio by cross-correlation.

Run::

    .venv/bin/python benchmarks/webrtc_timing.py [--sessions 24] [--seed 1] [--no-timit] [--piper 8] [--loopback 5]
    .venv/bin/python benchmarks/webrtc_timing.py --no-track --no-live   # marks only (~10 s CPU + Piper once)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import pickle
import random
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import timing  # noqa: E402

from captioner.core.estimators import ForcedAlignEstimator  # noqa: E402
from captioner.core.estimators._marks import marks_spans  # noqa: E402
from captioner.core.estimators._text import spoken_words  # noqa: E402

TRACK_EVENT = "captioner.track_audio.delta"
CHUNK_MS = 35.0
MARK_LEAD_MS = (60.0, 150.0)  # marks lead the audio they mark by this much
NOISE_RMS = 3.0  # a decoded Opus track is never exactly zero
AUDIO_TYPES = ("response.output_audio.delta", "response.audio.delta")


def _pcm(delta: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(delta), "<i2")


def _b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode("ascii")


def webrtc_log(session: corpus.Session, rng: random.Random, track: bool,
               text_lead_s: Optional[tuple[float, float]] = None,
               cuts: Optional[dict[str, float]] = None, opus: bool = False) -> list[dict]:
    """The session as a WebRTC client logs it (see module doc). ``text_lead_s``: re-time the
    transcript deltas to lead their true onset by a per-item lead drawn from this range.
    ``cuts``: item id -> session ms where the listener interrupted it: the client clears
    the output buffer then, and ``output_audio_buffer.cleared`` comes back 20-60 ms later
    instead of ``.stopped`` (its text still arrives in full). ``opus``: the track goes the
    way a real one does (see :func:`opus_track`) instead of as the raw samples."""
    rate = corpus.SAMPLE_RATE
    audio: dict[str, list[np.ndarray]] = {}
    out: list[tuple[float, int, dict]] = []
    seq = 0

    def emit(t_ms: float, event: dict) -> None:
        nonlocal seq
        out.append((t_ms, seq, event))
        seq += 1

    for line in session.log:
        e = line["event"]
        if e.get("type") in AUDIO_TYPES:
            audio.setdefault(e["item_id"], []).append(_pcm(e["delta"]))
            continue
        if text_lead_s is not None and e.get("type", "").endswith("transcript.delta"):
            continue  # re-timed below
        emit(line["t"] * 1000.0, e)
    end_ms = max(t for t, _, _ in out)
    for item in session.items:
        response_id = next(e["response_id"] for _, _, e in out if e.get("item_id") == item.item_id
                           and "response_id" in e)
        end = item.start_ms + item.audio_ms
        emit(item.start_ms - rng.uniform(*MARK_LEAD_MS), {"type": "output_audio_buffer.started",
                                                          "response_id": response_id})
        if cuts is not None and item.item_id in cuts:
            emit(cuts[item.item_id] + rng.uniform(20.0, 60.0), {"type": "output_audio_buffer.cleared",
                                                               "response_id": response_id})
        else:
            emit(end - rng.uniform(*MARK_LEAD_MS), {"type": "output_audio_buffer.stopped",
                                                    "response_id": response_id})
        end_ms = max(end_ms, end)
        if text_lead_s is not None:
            lead = rng.uniform(*text_lead_s) * 1000.0
            base = next(e for line in session.log for e in [line["event"]]
                        if e.get("item_id") == item.item_id and e.get("type", "").endswith("transcript.delta"))
            # never before the response exists: the first delta's original arrival at the earliest
            arrivals, last = [], min(line["t"] * 1000.0 for line in session.log
                                     if line["event"].get("item_id") == item.item_id
                                     and line["event"].get("type", "").endswith("transcript.delta")) - 1.0
            for d in item.deltas:
                onset = d.onset_ms if d.onset_ms is not None else last + lead
                at = max(onset - lead + rng.uniform(-40.0, 40.0), last + 1.0)
                arrivals.append(at)
                last = at
                emit(at, dict(base, delta=d.text))
            item.deltas[:] = [dataclasses.replace(d, arrived_ms=at) for d, at in zip(item.deltas, arrivals)]
    if track:
        stream = np.zeros(int((end_ms + 600.0) * rate / 1000.0), np.int16)
        for item in session.items:
            pcm = np.concatenate(audio[item.item_id])
            first = int(round(item.start_ms * rate / 1000.0))
            stream[first:first + len(pcm)] = pcm[: len(stream) - first]
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, NOISE_RMS, len(stream))
        stream = np.clip(stream + noise, -32768, 32767).astype(np.int16)
        step = int(CHUNK_MS * rate / 1000.0)
        t0 = min(item.start_ms for item in session.items) - 1000.0
        first = max(0, int(t0 * rate / 1000.0))
        if opus:
            for at_ms, pcm in opus_track(stream[first:], rate):
                if first * 1000.0 / rate + at_ms >= 0.0:  # (the session clock starts at 0)
                    emit(first * 1000.0 / rate + at_ms, {"type": TRACK_EVENT, "delta": _b64(pcm)})
        else:
            for first in range(first, len(stream), step):
                emit(first * 1000.0 / rate, {"type": TRACK_EVENT, "delta": _b64(stream[first:first + step])})
    out.sort(key=lambda x: (x[0], x[1]))
    return [{"t": round(t / 1000.0, 6), "from": "server", "event": e} for t, _, e in out]


def _opus_chunks(pcm: np.ndarray, rate: int) -> list[np.ndarray]:
    """``pcm`` the way the voice reaches the engine over WebRTC: the server's streaming resampler to
    48 kHz, 20 ms frames through aiortc's Opus encoder and decoder, the client's
    :class:`TrackAudio` (its streaming resampler back to ``rate``): one chunk per decoded frame."""
    import fractions

    import av
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame

    from captioner.core.wire import Resampler
    from captioner.edges.webrtc import TRACK_RATE, TrackAudio

    wide = Resampler(rate, TRACK_RATE).feed(pcm, last=True)
    encoder, decoder, client = OpusEncoder(), OpusDecoder(), TrackAudio(rate)
    frame_n = TRACK_RATE // 50
    out = []
    for k in range(0, len(wide) - frame_n + 1, frame_n):
        frame = av.AudioFrame.from_ndarray(wide[k:k + frame_n].reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = TRACK_RATE, k, fractions.Fraction(1, TRACK_RATE)
        payloads, timestamp = encoder.encode(frame)
        for payload in payloads:
            out += [client.convert(decoded) for decoded in decoder.decode(JitterFrame(payload, timestamp))]
    return out


def opus_track(pcm: np.ndarray, rate: int) -> list[tuple[float, np.ndarray]]:
    """(ms from the start of ``pcm``, chunk) of ``pcm`` through Opus (:func:`_opus_chunks`),
    played back to back. The codec and resamplers delay the voice by a few ms, as they do
    the voice a listener hears: measured here on a click and taken off, so the truth (what
    the listener hears) and the marks stay where they were."""
    click = np.zeros(rate // 5, np.int16)
    click[rate // 10: rate // 10 + 24] = 16000
    heard = np.concatenate(_opus_chunks(click, rate))
    delay_ms = 1000.0 * (int(np.argmax(np.abs(heard.astype(np.int32)))) - rate // 10) / rate
    out, at = [], -delay_ms
    for chunk in _opus_chunks(pcm, rate):
        if len(chunk):
            out.append((at, chunk))
            at += 1000.0 * len(chunk) / rate
    return out


def score(sessions: list[corpus.Session], runs: dict[str, list[tuple[corpus.Session, dict, dict]]],
          live: bool) -> None:
    """Print final (and live) onset error per run and kind, plus per-pattern rows."""
    kinds = sorted({s.kind for s in sessions})
    print("| speech | method | view | median abs err ms | p95 abs err ms "
          f"| shown > {timing.EARLY_MS:.0f} ms early | median lateness when text leads ms |")
    print("|---|---|---|---|---|---|---|")
    for k in kinds:
        for name, results in runs.items():
            final, shown = timing.Errors(), timing.Errors()
            for s, fin, first_shown in results:
                if s.kind != k:
                    continue
                for item in s.items:
                    for d in item.deltas:
                        if d.onset_ms is None:
                            continue
                        key, led = (item.item_id, d.index), d.arrived_ms < d.onset_ms
                        if name.startswith("baseline: "):
                            onsets = timing.baseline_onsets(item)[name[len("baseline: "):]]
                            final.add(onsets[d.index], d.onset_ms, led)
                            shown.add(max(onsets[d.index], d.arrived_ms), d.onset_ms, led)
                            continue
                        if key in fin:
                            final.add(fin[key], d.onset_ms, led)
                        if key in first_shown:
                            shown.add(first_shown[key], d.onset_ms, led)
            print(f"| {k} | {name} | final {final.row()}")
            if live:
                print(f"| {k} | {name} | live {shown.row()}")


def lost_items(runs: dict[str, list[tuple[corpus.Session, dict, dict]]], names: list[str],
               lost_ms: float = 300.0) -> None:
    """The tail of an audio-timed column is whole items the aligner lost (one word off by
    more than ``lost_ms``), not a spread over all words: which items, in each column, and
    the error over the items both columns kept (the transport's own share)."""
    print(f"| speech | method | items lost (a word > {lost_ms:.0f} ms off) | words in them "
          "| median / p95 over items no column lost |")
    print("|---|---|---|---|---|")
    errs: dict[str, dict[str, list[float]]] = {}
    for name in names:
        for s, fin, _ in runs[name]:
            for item in s.items:
                errs.setdefault(name, {})[item.item_id] = [
                    fin[(item.item_id, d.index)] - d.onset_ms for d in item.deltas
                    if d.onset_ms is not None and (item.item_id, d.index) in fin]
    kind_of = {item.item_id: s.kind for s, _, _ in runs[names[0]] for item in s.items}
    lost = {name: {i for i, e in errs[name].items() if e and max(map(abs, e)) > lost_ms} for name in names}
    for kind in sorted(set(kind_of.values())):
        for name in names:
            mine = sorted(i for i in lost[name] if kind_of[i] == kind)
            kept = [abs(x) for i, e in errs[name].items() if kind_of[i] == kind
                    and not any(i in lost[n] for n in names) for x in e]
            words = sum(len(errs[name][i]) for i in mine)
            print(f"| {kind} | {name} | {len(mine)}: {' '.join(i.replace('item_', '') for i in mine) or '-'} | {words} "
                  f"| {np.median(kept):.0f} / {np.percentile(kept, 95):.0f} |")


def cut_marks(session: corpus.Session, rng: random.Random) -> tuple[corpus.Session, dict[str, float]]:
    """The session without audio, every item interrupted 30-80 % into its audio."""
    cuts = {item.item_id: item.start_ms + rng.uniform(0.3, 0.8) * item.audio_ms for item in session.items}
    return dataclasses.replace(session, log=webrtc_log(session, rng, track=False, cuts=cuts)), cuts


def score_cuts(results: list[tuple[corpus.Session, dict, dict]], cuts: dict[str, float]) -> None:
    """Marks only, interrupted items: no caption may start after the cleared mark (the
    client's log has no earlier sign of the cut); the words spoken before the interruption
    are timed at the prior pace from the started mark (no length is known)."""
    print("| speech | captions starting after the interruption / after the cleared mark "
          "| words spoken before the interruption that are shown | their median abs err ms | p95 abs err ms |")
    print("|---|---|---|---|---|")
    for kind in sorted({s.kind for s, _, _ in results}):
        after, after_mark, before, shown, errs = 0, 0, 0, 0, []
        for s, fin, _ in results:
            if s.kind != kind:
                continue
            cleared = {}
            for line in s.log:
                if line["event"]["type"] == "output_audio_buffer.cleared":
                    cleared[line["event"]["response_id"]] = line["t"] * 1000.0
            for item in s.items:
                cut = cuts[item.item_id]
                mark = cleared[item.item_id.replace("item_", "resp_")]
                after += sum(1 for (i, _k), t in fin.items() if i == item.item_id and t >= cut)
                after_mark += sum(1 for (i, _k), t in fin.items() if i == item.item_id and t >= mark)
                for d in item.deltas:
                    if d.onset_ms is None or d.onset_ms >= cut:
                        continue
                    before += 1
                    if (item.item_id, d.index) in fin:
                        shown += 1
                        errs.append(abs(fin[(item.item_id, d.index)] - d.onset_ms))
        e = np.array(errs) if errs else np.zeros(1)
        print(f"| {kind} | {after} / {after_mark} | {shown} / {before} | {np.median(e):.0f} "
              f"| {np.percentile(e, 95):.0f} |")


def by_pattern(runs: dict[str, list[tuple[corpus.Session, dict, dict]]], names: list[str]) -> None:
    print("| speech | pattern | method | median abs err ms | p95 abs err ms | > 40 ms early | lead lateness |")
    print("|---|---|---|---|---|---|---|")
    keys = sorted({(s.kind, s.pattern) for results in runs.values() for s, _, _ in results})
    for kind, pattern in keys:
        for name in names:
            errs = timing.Errors()
            for s, fin, _ in runs[name]:
                if (s.kind, s.pattern) != (kind, pattern):
                    continue
                for item in s.items:
                    for d in item.deltas:
                        if d.onset_ms is not None and (item.item_id, d.index) in fin:
                            errs.add(fin[(item.item_id, d.index)], d.onset_ms, d.arrived_ms < d.onset_ms)
            print(f"| {kind} | {pattern} | {name} {errs.row()}")


def by_rate(results: list[tuple[corpus.Session, dict, dict]]) -> None:
    """Marks only, final: items spoken at one rate vs items whose speed changes inside
    (the corpus's espeak pieces each have their own rate; no text-only estimate can know)."""
    print("| speech | items | median abs err ms | p95 abs err ms | > 40 ms early | lead lateness |")
    print("|---|---|---|---|---|---|")
    rows: dict[tuple[str, str], timing.Errors] = {}
    for s, fin, _ in results:
        for item in s.items:
            label = "one rate" if len(set(item.wpm)) <= 1 else "speed changes inside"
            errs = rows.setdefault((s.kind, label), timing.Errors())
            for d in item.deltas:
                if d.onset_ms is not None and (item.item_id, d.index) in fin:
                    errs.add(fin[(item.item_id, d.index)], d.onset_ms, d.arrived_ms < d.onset_ms)
    for (kind, label), errs in sorted(rows.items()):
        print(f"| {kind} | {label} {errs.row()}")


PIPER_WPM = (150, 210)  # one speaking rate per session (Piper's trained pace is 175)


def piper_sessions(seed: int, n: int, voice: str = "piper:joe") -> list[corpus.Session]:
    """``n`` sessions spoken by a neural voice (Piper; its phoneme alignments give each word's
    first sample): items of 1-3 of the corpus sentences said as one utterance at one rate,
    every arrival pattern. A second real-voice family beside TIMIT for the marks-only prior
    (lead-in and trailing silence, pauses at punctuation); empty when Piper is missing.
    Piper samples its durations (the model's noise), so the same seed speaks a little
    differently each run: the first run's sessions are kept in the user's cache directory
    (``$XDG_CACHE_HOME`` or ``~/.cache``, ``captioner/``; not the shared temp dir, whose
    files anyone could plant for this to unpickle) and reused, so that runs before and
    after a change compare on the same speech."""
    from captioner.server._voice import VoiceUnavailable, load_voice

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "captioner"
    keep = cache / f"piper-sessions-{seed}-{n}-{voice.replace('/', '_')}.pickle"
    if keep.exists():
        return pickle.loads(keep.read_bytes())
    rng = random.Random(seed * 31337)
    out = []
    for s in range(n):
        try:
            tts = load_voice(voice, wpm=rng.randint(*PIPER_WPM))
            tts.load()
        except VoiceUnavailable as exc:
            print(f"no Piper sessions: {exc}", file=sys.stderr)
            return []
        items = []
        for _ in range(rng.randint(2, 3)):
            text = " ".join(rng.sample(corpus.SENTENCES, rng.randint(1, 3)))
            speech = tts.synthesize(text, corpus.SAMPLE_RATE)
            items.append((text, speech.samples, [(w.text_start, w.sample) for w in speech.words], [tts.wpm]))
        pattern = corpus.PATTERNS[s % len(corpus.PATTERNS)]
        out.append(corpus.build_session(f"pp{s:03d}", "piper", items, pattern, "ga" if s % 2 else "beta",
                                        voice, rng))
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_bytes(pickle.dumps(out))
    return out


def speech_span(pcm: np.ndarray, rate: int = corpus.SAMPLE_RATE) -> tuple[float, float]:
    """First and last ms of an item's audio louder than 40 dB below its loudest 10 ms."""
    hop = rate // 100
    frames = pcm[: len(pcm) // hop * hop].astype(np.float64).reshape(-1, hop)
    level = np.sqrt(np.mean(frames ** 2, axis=1))
    loud = np.flatnonzero(level > max(level.max() * 0.01, 30.0))
    return (10.0 * loud[0], 10.0 * (loud[-1] + 1)) if len(loud) else (0.0, len(pcm) * 1000.0 / rate)


def oracle_onsets(session: corpus.Session) -> dict[tuple[str, int], float]:
    """The marks-only estimate told what no log says: where each item's speech truly starts
    (its first word) and ends (its audio) - the floor of any text-only timeline scaled to a
    span with one tempo; what is left is speaking-rate changes and word weights."""
    audio: dict[str, list[np.ndarray]] = {}
    for line in session.log:
        e = line["event"]
        if e.get("type") in AUDIO_TYPES:
            audio.setdefault(e["item_id"], []).append(_pcm(e["delta"]))
    out = {}
    for item in session.items:
        text = "".join(d.text for d in item.deltas)
        starts = list(np.cumsum([0] + [len(d.text) for d in item.deltas])[:-1])
        first = next(d.onset_item_ms for d in item.deltas if d.onset_item_ms is not None)
        end = speech_span(np.concatenate(audio[item.item_id]))[1]
        spans = marks_spans(text, starts, spoken_words(text), item.audio_ms, True, speech=(first, end))
        out.update({(item.item_id, d.index): item.start_ms + a for d, (a, _) in zip(item.deltas, spans)})
    return out


def decompose(runs: dict[str, list[tuple[corpus.Session, dict, dict]]]) -> None:
    """Per item, onset error = offset + scale + local: offset is the error at the item's first
    word (where its speech is put against the marks), scale grows linearly from there to the
    error at its last word (the tempo: where the speech is put to end), local is the rest
    (word weights, pauses, and speed changes inside the item that no one tempo follows)."""
    print("| speech | method | total median / p95 | offset | scale | local |")
    print("|---|---|---|---|---|---|")
    kinds = sorted({s.kind for results in runs.values() for s, _, _ in results})
    for kind in kinds:
        for name, results in runs.items():
            parts: dict[str, list[float]] = {"total": [], "offset": [], "scale": [], "local": []}
            for s, fin, _ in results:
                if s.kind != kind:
                    continue
                for item in s.items:
                    pts = [(d.onset_ms, fin[(item.item_id, d.index)] - d.onset_ms)
                           for d in item.deltas if d.onset_ms is not None and (item.item_id, d.index) in fin]
                    if not pts:
                        continue
                    x, e = (np.array(v) for v in zip(*pts))
                    span = x[-1] - x[0]
                    line = e[0] + (e[-1] - e[0]) * ((x - x[0]) / span if span > 0 else 0.0)
                    parts["total"] += list(e)
                    parts["offset"] += [e[0]] * len(x)
                    parts["scale"] += list(line - e[0])
                    parts["local"] += list(e - line)
            cells = [f"{np.median(np.abs(v)):.0f} / {np.percentile(np.abs(v), 95):.0f}" for v in parts.values()]
            print(f"| {kind} | {name} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------- loopback interruption

def _item_audio(records, item_id: str) -> np.ndarray:
    """The track audio the engine attributed to the item: from its started mark on."""
    out, on = [], False
    for r in records:
        kind = r.event.get("type")
        if kind == "output_audio_buffer.started":
            on = True
        elif kind in ("output_audio_buffer.stopped", "output_audio_buffer.cleared"):
            on = False
        elif kind == TRACK_EVENT and on:
            out.append(_pcm(r.event["delta"]))
    return np.concatenate(out) if out else np.zeros(0, np.int16)


def _sounding(x: np.ndarray) -> np.ndarray:
    """Indices of ``x`` outside runs of exact zeros (underruns: the track had not delivered
    yet; decoded Opus is hardly ever exactly silent)."""
    zero = x == 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], zero.astype(np.int8), [0]])))
    keep = np.ones(len(x), bool)
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= 8:
            keep[a:b] = False
    return np.flatnonzero(keep)


def last_played(recording: np.ndarray, item_audio: np.ndarray, n: int) -> int:
    """Samples of ``item_audio`` played when ``recording`` (what the player handed out) ends:
    its last ``n`` sounding samples located in the item's sounding samples."""
    window = recording[_sounding(recording)][-n:]
    idx = _sounding(item_audio)
    return int(idx[_lag(window, item_audio[idx]) + len(window) - 1]) + 1


def _lag(window: np.ndarray, audio: np.ndarray) -> int:
    """Offset in ``audio`` where ``window`` matches best (normalised cross-correlation)."""
    w = window.astype(np.float64) - window.mean()
    a = audio.astype(np.float64)
    n = 1 << int(np.ceil(np.log2(len(a) + len(w))))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(w, n)), n)[: len(a) - len(w) + 1]
    energy = np.convolve(a * a, np.ones(len(w)), "valid") - np.convolve(a, np.ones(len(w)), "valid") ** 2 / len(w)
    return int(np.argmax(corr / np.sqrt(np.maximum(energy, 1e-9))))


def loopback_interruptions(n: int, after_ms: float = 1500.0) -> list[dict]:
    """Run ``n`` interrupted live sessions over loopback WebRTC; per run, the truncate's
    audio_end_ms and the item ms of the last sample the virtual player handed out."""
    from captioner.edges.files import read_session_log
    from captioner.edges.session import LiveOptions, LiveSession
    from captioner.server._webrtc import serve_webrtc

    out = []
    for k in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            log_path = Path(tmp) / "session.jsonl"

            async def main():
                async with serve_webrtc(script="story") as url:
                    opts = LiveOptions(url=url, transport="webrtc", model="embedded", say=["Tell me a story."],
                                       output="virtual", record=True, mic="off", server_vad=False,
                                       interrupt_after_ms=after_ms + 137.0 * k, exit_when_done=True,
                                       max_seconds=30, key_interrupt=False, log_path=log_path)
                    return await LiveSession(opts).run()

            result = asyncio.run(main())
            records, _ = read_session_log(log_path)
        cut = result.interruptions[0] if result.interruptions else None
        if cut is None or cut.truncate is None or result.recording is None:
            out.append({"run": k, "error": result.error or "no interruption"})
            continue
        rate = 24000
        item_audio = _item_audio(records, cut.truncate.item_id)
        stop = int(round((cut.at_ms - result.recording_start_ms) * rate / 1000.0))
        last = last_played(result.recording[:stop], item_audio, rate // 4)
        out.append({"run": k, "audio_end_ms": cut.truncate.audio_end_ms,
                    "last_played_item_ms": 1000.0 * last / rate,
                    "error_ms": cut.truncate.audio_end_ms - 1000.0 * last / rate})
    return out


def _print_loopback(n: int) -> int:
    print(f"\n## Interruption over loopback WebRTC ({n} runs)\n")
    rows = loopback_interruptions(n)
    print("| run | audio_end_ms | last sample handed to the player (item ms) | error ms |")
    print("|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['run']} | – | – | {r['error']} |")
        else:
            print(f"| {r['run']} | {r['audio_end_ms']} | {r['last_played_item_ms']:.1f} | {r['error_ms']:+.1f} |")
    errs = [abs(r["error_ms"]) for r in rows if "error_ms" in r]
    if errs:
        print(f"\nmax |error| {max(errs):.1f} ms, median {np.median(errs):.1f} ms over {len(errs)} runs")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="WebRTC caption onset error vs ground truth")
    p.add_argument("--sessions", type=int, default=24, help="espeak sessions (default 24)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-timit", action="store_true")
    p.add_argument("--piper", type=int, default=8, help="Piper (neural voice) sessions (default 8; 0: none)")
    p.add_argument("--no-live", action="store_true", help="skip the live view (faster)")
    p.add_argument("--loopback", type=int, default=0, help="interrupted loopback WebRTC runs (default 0)")
    p.add_argument("--loopback-only", action="store_true", help="only the loopback interruption runs")
    p.add_argument("--no-track", action="store_true", help="marks only: skip the WebSocket and track runs")
    args = p.parse_args(argv)
    live = not args.no_live
    if args.loopback_only:
        return _print_loopback(args.loopback or 5)

    sessions = list(corpus.generate(args.seed, args.sessions, timit=not args.no_timit))
    sessions += piper_sessions(args.seed, args.piper)
    rng = random.Random(args.seed * 7919)
    factory = ForcedAlignEstimator
    runs: dict[str, list] = {"websocket (audio events)": [], "webrtc (track audio)": [],
                             "webrtc (track audio through Opus)": []}
    marks: dict[str, list] = {"marks only": [], "baseline: on arrival": [], "baseline: 3.83 syl/s": []}
    lead_runs: dict[str, list] = {"marks only": [], "baseline: on arrival": [], "baseline: 3.83 syl/s": []}
    oracle: list = []
    cut_runs: list = []
    cuts: dict[str, float] = {}
    cut_rng = random.Random(args.seed * 104729)  # its own draws: the other runs stay as they were
    for s in sessions:
        same = random.Random()
        same.setstate(rng.getstate())  # the Opus track: the same marks and noise
        rtc = dataclasses.replace(s, log=webrtc_log(s, rng, track=True))  # (the same draws either way)
        if not args.no_track:
            runs["websocket (audio events)"].append((s, *timing.run_engine(s, factory, live)[:2]))
            runs["webrtc (track audio)"].append((s, *timing.run_engine(rtc, factory, live)[:2]))
            rtc = dataclasses.replace(s, log=webrtc_log(s, same, track=True, opus=True))
            runs["webrtc (track audio through Opus)"].append((s, *timing.run_engine(rtc, factory, live)[:2]))
        only = dataclasses.replace(s, log=webrtc_log(s, rng, track=False))
        result = (s, *timing.run_engine(only, factory, live)[:2])
        for name in marks:
            marks[name].append(result)
        led = dataclasses.replace(s, items=[dataclasses.replace(i, deltas=list(i.deltas)) for i in s.items])
        led = dataclasses.replace(led, log=webrtc_log(led, rng, track=False, text_lead_s=(0.5, 3.0)),
                                  pattern="text leads 0.5-3 s")
        result = (led, *timing.run_engine(led, factory, live)[:2])
        for name in lead_runs:
            lead_runs[name].append(result)
        oracle.append((s, oracle_onsets(s), {}))
        cut, at = cut_marks(s, cut_rng)
        cuts.update(at)
        cut_runs.append((cut, *timing.run_engine(cut, factory, False)[:2]))

    n = {k: sum(s.kind == k for s in sessions) for k in {s.kind for s in sessions}}
    print(f"corpus: seed {args.seed}, sessions {n}; estimator: {factory.__name__}")
    if not args.no_track:
        print("\n## WebRTC with the track vs WebSocket (same speech)\n")
        score(sessions, runs, live)
        print()
        lost_items(runs, list(runs))
    print("\n## Marks only (no audio), corpus arrival patterns\n")
    score(sessions, {**marks, "floor: oracle span": oracle}, live)
    print("\n## Marks only, text leading playback by 0.5-3 s\n")
    score(sessions, lead_runs, live)
    print("\n### final timeline by arrival pattern\n")
    both = {name: marks[name] + lead_runs[name] for name in marks}
    by_pattern({**runs, **both}, [*([] if args.no_track else list(runs)), "marks only"])
    print("\n### marks only, final timeline, by speaking rate inside items\n")
    print("marks only:\n")
    by_rate(both["marks only"])
    print("\noracle span (the true start and end of each item's speech given; no log has them):\n")
    by_rate(oracle)
    print("\n### marks only, every item interrupted 30-80 % into its audio (final timeline)\n")
    score_cuts(cut_runs, cuts)
    print("\n### marks only: where the error comes from (per item: offset + scale + local)\n")
    decompose({"marks only": marks["marks only"], "oracle span": oracle})
    if args.loopback:
        _print_loopback(args.loopback)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
