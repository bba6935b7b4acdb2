"""The live session's estimation worker: a separate process (see core/deferred.py).

A pump thread here moves each :class:`DeferredEstimator`'s new inputs down a pipe and
the worker's answers back, taking the session lock only to list the items and to tell
the engine that estimates changed. The process runs :class:`EstimatorHost` and never
touches the session. If it cannot start or dies, captions keep the audio-only estimate.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Optional

from captioner.core.estimators import DeferredEstimator, EstimatorHost

log = logging.getLogger(__name__)

POLL_S = 0.01  # how long the pump waits for an answer before looking for new inputs


def serve(conn: Any) -> None:
    """The worker process: feed, step, answer, until the pipe closes."""
    from captioner.core.estimators import default_estimator

    host = EstimatorHost(default_estimator)
    try:
        while True:
            if conn.poll(0 if host.busy() else None):
                message = conn.recv()
                if message[0] == "feed":
                    host.feed(message[1], message[2])
                elif message[0] == "drop":
                    host.drop(message[1])
                continue  # all waiting inputs first: answer for the newest
            for key, answer in host.step():
                conn.send(("answer", key, answer))
    except (EOFError, OSError, KeyboardInterrupt):
        pass


class EstimateWorker:
    def __init__(self, engine: Any, lock: threading.RLock) -> None:
        self.engine, self.lock = engine, lock
        self._known: dict[int, DeferredEstimator] = {}
        self._conn: Any = None
        self._process: Any = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._io = threading.Lock()  # one exchange at a time (pump thread or settle)
        self.alive = False

    def start(self) -> None:
        # A fresh interpreter, not a fork (the session has audio threads) and not
        # multiprocessing's spawn (it re-runs the caller's main script).
        ours, theirs = socket.socketpair()
        try:
            # its own session: Ctrl-C in the terminal is for the session, which still needs
            # the worker to settle the final timing; the worker ends when its pipe closes
            self._process = subprocess.Popen(
                [sys.executable, "-m", "captioner.edges.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True)
        except Exception as exc:  # noqa: BLE001 - whatever stops a process starting
            ours.close()
            log.warning("estimate worker did not start (%s); captions use the audio-only estimate", exc)
            return
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self.alive = True
        self._thread = threading.Thread(target=self._pump, name="captioner-estimate-pump", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set() and self.alive:
            self.exchange()

    def exchange(self, wait_s: float = POLL_S) -> None:
        """Send new inputs, then apply the answers that arrive within ``wait_s``."""
        with self._io:
            if not self.alive:
                return
            try:
                self._send_inputs()
                self._apply_answers(wait_s)
            except Exception as exc:  # noqa: BLE001 - a closed pipe, or anything else: never the session
                self.alive = False
                if self._stop.is_set():  # the session is closing: nothing lost
                    log.debug("estimate worker ended with the session (%s)", self._reason(exc))
                    return
                log.warning("estimate worker stopped (%s); captions use the audio-only estimate", self._reason(exc))
                with self.lock:
                    self.engine.refresh_estimates()

    def _reason(self, exc: BaseException) -> str:
        """Why the exchange failed, in words: a closed pipe (``EOFError()``) says nothing."""
        code = self._process.poll() if self._process is not None else None
        if isinstance(exc, (EOFError, BrokenPipeError, ConnectionResetError)):
            return "its process exited" + (f" with status {code}" if code is not None else "")
        return str(exc) or type(exc).__name__

    def _send_inputs(self) -> None:
        with self.lock:
            current = {e.key: e for e in self.engine.estimators() if isinstance(e, DeferredEstimator)}
        for key in set(self._known) - set(current):
            self._conn.send(("drop", key))
        self._known = current
        for key, est in current.items():
            work = est.take()
            if work is not None:
                self._conn.send(("feed", key, work))

    def _apply_answers(self, wait_s: float) -> None:
        changed = False
        while self._conn.poll(0 if changed else wait_s):
            _, key, answer = self._conn.recv()
            est = self._known.get(key)
            if est is not None:
                est.publish(answer)
                changed = True
        if changed:
            with self.lock:
                self.engine.refresh_estimates()

    def settle(self, timeout_s: float = 30.0) -> bool:
        """Wait until every item's estimate is final (the session is over); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.alive and time.monotonic() < deadline:
            with self.lock:
                pending = [e for e in self.engine.estimators()
                           if isinstance(e, DeferredEstimator) and e.pending]
            if not pending:
                return True
            self.exchange(0.05)
        return not self.alive

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self.alive = False


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
