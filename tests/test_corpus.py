"""The ground-truth corpus generator: deterministic, well-formed logs, consistent truth."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from captioner.core.wire import parse_session_log
from captioner.server import espeak as tts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
corpus = pytest.importorskip("corpus")

pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")


def _sessions(seed: int):
    return list(corpus.generate(seed, sessions=4, timit=False))


def _shape(sessions):
    """What the seed decides: texts, tokenisation, voices, rates, event kinds and patterns.

    (libespeak-ng itself varies a word's length by a few ms from call to call, so the
    audio bytes are not compared; each log's truth is taken from its own audio.)
    """
    return [
        (s.pattern, s.names, s.voice, [(i.wpm, [d.text for d in i.deltas]) for i in s.items],
         [line["event"]["type"] for line in s.log if "delta" not in line["event"]])
        for s in sessions
    ]


def test_deterministic_from_seed():
    a, b = _sessions(7), _sessions(7)
    assert _shape(a) == _shape(b)
    assert _shape(a) != _shape(_sessions(8))


def test_logs_parse_and_truth_is_consistent(tmp_path):
    sessions = _sessions(3)
    assert {s.pattern for s in sessions} == set(corpus.PATTERNS)
    for s in sessions:
        path = corpus.write(s, tmp_path)
        records, errors = parse_session_log(path.read_text().splitlines())
        assert not errors and records
        assert [r.t_ms for r in records] == sorted(r.t_ms for r in records)
        truth = json.loads((tmp_path / f"{s.name}.truth.json").read_text())
        texts: dict[str, str] = {}
        audio: dict[str, int] = {}
        for r in records:
            e = r.event
            if e["type"].endswith("transcript.delta"):
                texts[e["item_id"]] = texts.get(e["item_id"], "") + e["delta"]
            if e["type"] in ("response.output_audio.delta", "response.audio.delta"):
                raw = base64.b64decode(e["delta"])
                assert len(raw) % 2 == 0
                audio[e["item_id"]] = audio.get(e["item_id"], 0) + len(raw) // 2
        for item in truth["items"]:
            assert "".join(d["text"] for d in item["deltas"]) == texts[item["item_id"]]
            assert audio[item["item_id"]] * 1000 / corpus.SAMPLE_RATE == pytest.approx(item["audio_ms"])
            onsets = [d["onset_item_ms"] for d in item["deltas"] if d["onset_item_ms"] is not None]
            assert onsets == sorted(onsets) and len(onsets) >= 2
            assert 0 <= onsets[0] and onsets[-1] < item["audio_ms"]
            for d in item["deltas"]:
                if d["onset_ms"] is not None:
                    assert d["onset_ms"] == pytest.approx(item["start_ms"] + d["onset_item_ms"])


def test_tokens_look_like_model_output():
    import random

    spans = corpus.tokenize("Interoperability, e.g. $3.50 at 10:45!", random.Random(1))
    text = "Interoperability, e.g. $3.50 at 10:45!"
    tokens = [text[a:b] for a, b in spans]
    assert "".join(tokens) == text
    assert tokens[0] != "Interoperability"  # long words are cut in pieces
    assert "," in tokens and " $3.50" in tokens and " 10:45" in tokens
