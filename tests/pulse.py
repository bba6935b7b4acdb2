"""A private PulseAudio server with a null sink, for tests that need a real audio device.

This machine has no sound card. PulseAudio's ``module-null-sink`` consumes audio at
real-time pace and its ``.monitor`` source can be recorded, so it stands in for
speakers. The server runs with its own runtime directory (``PULSE_RUNTIME_PATH``) so
it never touches a user's session; ALSA's ``pulse``/``default`` PCMs route to it
through libasound2-plugins, which is how PortAudio (sounddevice) sees a device.

Usage::

    with null_sink() as sink:        # raises PulseUnavailable with a reason
        ... sounddevice.OutputStream(device=sink.device) ...
        rec = sink.record()          # parec on the monitor -> Recording
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

SINK = "captioner_null"


class PulseUnavailable(RuntimeError):
    """PulseAudio (or PortAudio's view of it) cannot be set up here; the message says why."""


class Recording:
    """``parec`` capturing the null sink's monitor as s16le mono at ``rate``.

    A reader thread drains parec continuously: the monitor delivers in bursts and can
    lag playback by a second or more, so :meth:`stop` waits for the samples it needs.
    """

    def __init__(self, proc: subprocess.Popen, rate: int) -> None:
        self.proc, self.rate = proc, rate
        self._data = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            with self._lock:
                self._data += chunk

    @property
    def samples(self) -> int:
        with self._lock:
            return len(self._data) // 2

    def stop(self, min_samples: int = 0, timeout: float = 10.0) -> np.ndarray:
        deadline = time.monotonic() + timeout
        while self.samples < min_samples and time.monotonic() < deadline:
            time.sleep(0.05)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._thread.join(timeout=5)
        with self._lock:
            data = bytes(self._data[: len(self._data) // 2 * 2])
        return np.frombuffer(data, dtype="<i2").astype(np.int16)


@dataclass
class NullSink:
    runtime: Path
    env: dict
    device: str = "pulse"

    def record(self, rate: int = 24000) -> Recording:
        proc = subprocess.Popen(
            ["parec", f"--device={SINK}.monitor", "--format=s16le", f"--rate={rate}",
             "--channels=1", "--latency-msec=20", "--raw"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env,
        )
        time.sleep(0.3)  # let the stream connect before audio starts
        if proc.poll() is not None:
            raise PulseUnavailable("parec could not record the null sink monitor")
        return Recording(proc, rate)


def _reinit_sounddevice() -> None:
    """PortAudio enumerates devices once; re-scan so it sees (or forgets) the pulse PCM."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


@contextmanager
def null_sink() -> Iterator[NullSink]:
    for tool in ("pulseaudio", "pactl", "parec"):
        if shutil.which(tool) is None:
            raise PulseUnavailable(f"{tool} not installed (Debian: pulseaudio pulseaudio-utils)")
    try:
        import sounddevice  # noqa: F401  (needs libportaudio2)
    except OSError as exc:
        raise PulseUnavailable(f"sounddevice cannot load PortAudio: {exc}") from exc

    runtime = Path(tempfile.mkdtemp(prefix="captioner-pulse-"))
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), PULSE_STATE_PATH=str(runtime))
    env.pop("PULSE_SERVER", None)
    cmd = [
        "pulseaudio", "--daemonize=yes", "--system=false", "--exit-idle-time=-1",
        "--disallow-exit=yes", "-n", "--use-pid-file=yes", "--realtime=no", "--high-priority=no",
        f"--load=module-null-sink sink_name={SINK} rate=48000",
        "--load=module-native-protocol-unix",
        "--log-target=stderr", "--log-level=error",
    ]
    try:
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired as exc:
        raise PulseUnavailable("pulseaudio did not start within 15 s") from exc
    pid: Optional[int] = None
    old_env = {k: os.environ.get(k) for k in ("PULSE_RUNTIME_PATH", "PULSE_STATE_PATH", "PULSE_SERVER")}
    try:
        if run.returncode != 0:
            raise PulseUnavailable(f"pulseaudio failed to start: {run.stderr.strip()[-300:]}")
        pid = int((runtime / "pid").read_text().split()[0])
        for _ in range(50):
            info = subprocess.run(["pactl", "info"], env=env, capture_output=True, text=True)
            if info.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise PulseUnavailable("pulseaudio started but does not answer pactl")
        subprocess.run(["pactl", "set-default-sink", SINK], env=env, capture_output=True)
        os.environ.update(PULSE_RUNTIME_PATH=str(runtime), PULSE_STATE_PATH=str(runtime))
        os.environ.pop("PULSE_SERVER", None)
        _reinit_sounddevice()
        import sounddevice as sd

        names = [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
        device = next((n for n in ("pulse", "default") if n in names), None)
        if device is None:
            raise PulseUnavailable(
                f"PortAudio sees no pulse/default output (devices: {names}); install libasound2-plugins"
            )
        yield NullSink(runtime, env, device)
    finally:
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            _reinit_sounddevice()
        except Exception:  # noqa: BLE001 - best effort: leave PortAudio usable
            pass
        shutil.rmtree(runtime, ignore_errors=True)
