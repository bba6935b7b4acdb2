"""The overlay server without a browser: slow pages, who may connect, what pages may send."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from typing import Optional

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from captioner.core._model import Caption
from captioner.core.render import layout
from captioner.edges.overlay import REPORT_MAX_BYTES, REPORTS_KEPT, OverlayServer, apply_message


def raw_handshake(port: int, headers: dict[str, str], rcvbuf: Optional[int] = None) -> tuple[socket.socket, str]:
    """A websocket opened by hand (any Host/Origin); returns the socket and the status line.

    ``rcvbuf``: a tiny receive buffer, for a client that will never read.
    """
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    lines = ["GET /ws HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    reply = b""
    while b"\r\n\r\n" not in reply:  # byte by byte: leave any frame after the headers unread
        chunk = sock.recv(1)
        if not chunk:
            break
        reply += chunk
    return sock, reply.split(b"\r\n", 1)[0].decode()


def captions(n: int, tag: int) -> list[Caption]:
    return [Caption(f"item{i // 20}", "assistant", i % 20, f" word{tag}-{i} and some more text", i * 100.0,
                    i * 100.0 + 100, 0.0, True) for i in range(n)]


@pytest.fixture
def server():
    srv = OverlayServer(lambda: 0.0, port=0, clock_rate=0.0, sync_interval_s=0.05, send_timeout_s=2.0).start()
    yield srv
    srv.close()


def test_a_page_that_stops_reading_never_delays_the_others(server):
    host = f"127.0.0.1:{server.port}"
    stuck, status = raw_handshake(server.port, {"Host": host}, rcvbuf=1024)
    assert " 101 " in status
    deadline = time.monotonic() + 5
    while server.clients < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        with connect(f"ws://{host}/ws?mode=rollup", max_size=None) as healthy:
            waits, dropped_after = [], None
            t_start = time.monotonic()
            for rev in range(1, 31):  # 30 layouts of 0.4 MB: far more than the stuck page's socket buffers
                big = captions(300, rev)
                sent = time.monotonic()
                server.publish(big, rev)
                while True:
                    msg = json.loads(healthy.recv(timeout=5))
                    if msg["type"] in ("captions", "captions_diff") and msg["revision"] == rev:
                        break
                waits.append(time.monotonic() - sent)
                if dropped_after is None and server.clients == 1:
                    dropped_after = time.monotonic() - t_start
            assert max(waits) < 1.0, f"healthy page waited {max(waits):.2f} s"
            deadline = time.monotonic() + 10
            while server.clients > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.clients == 1  # the stuck page was dropped, the healthy one kept
            healthy.send(json.dumps({"type": "painted", "pieces": []}))  # still served
            assert json.loads(healthy.recv(timeout=5))["type"] == "clock"
    finally:
        stuck.close()


def test_only_the_overlays_own_pages_may_open_its_websocket(server):
    port = server.port
    own = f"http://127.0.0.1:{port}"
    refused = [
        {"Host": f"127.0.0.1:{port}", "Origin": "https://evil.example"},   # any other web page
        {"Host": f"127.0.0.1:{port}", "Origin": "null"},                   # sandboxed iframe, file://
        {"Host": f"127.0.0.1:{port}", "Origin": f"http://localhost:{port}"},  # another origin than the page's
        {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},  # DNS rebinding
        {"Host": f"evil.example:{port}"},
    ]
    for headers in refused:
        sock, status = raw_handshake(port, headers)
        sock.close()
        assert " 403 " in status, headers
    accepted = [
        {"Host": f"127.0.0.1:{port}", "Origin": own},
        {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
        {"Host": f"127.0.0.1:{port}"},  # no Origin: not a browser page (OBS plugins, scripts)
    ]
    for headers in accepted:
        sock, status = raw_handshake(port, headers)
        sock.close()
        assert " 101 " in status, headers
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{port}/ws", origin="https://evil.example").close()
    assert info.value.response.status_code == 403


def test_allow_origin_opens_the_websocket_to_that_origin():
    srv = OverlayServer(lambda: 0.0, port=0, allow_origins=["null", "http://obs.lan:9000"]).start()
    try:
        for headers in ({"Host": f"127.0.0.1:{srv.port}", "Origin": "null"},
                        {"Host": f"obs.lan:{srv.port}", "Origin": "http://obs.lan:9000"}):
            sock, status = raw_handshake(srv.port, headers)
            sock.close()
            assert " 101 " in status, headers
        sock, status = raw_handshake(srv.port, {"Host": f"127.0.0.1:{srv.port}", "Origin": "https://evil.example"})
        sock.close()
        assert " 403 " in status
    finally:
        srv.close()


def test_page_reports_are_bounded_in_size_and_number(server):
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        for i in range(REPORTS_KEPT + 500):
            ws.send(json.dumps({"type": "painted", "n": i, "pieces": []}))
        ws.send(json.dumps({"type": "painted", "n": "last"}))
        deadline = time.monotonic() + 10
        while not server.reports or server.reports[-1].get("n") != "last":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert len(server.reports) == REPORTS_KEPT
    assert server.reports[0]["n"] == 501  # the newest are kept
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        ws.send(json.dumps({"type": "painted", "n": "huge", "pieces": ["x" * REPORT_MAX_BYTES]}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    assert all(r.get("n") != "huge" for r in server.reports)


def test_port_in_use_is_one_clear_error(server):
    with pytest.raises(OSError) as info:
        OverlayServer(lambda: 0.0, port=server.port).start()
    assert str(info.value).endswith(f"cannot serve the overlay on 127.0.0.1:{server.port}: the port is in use")


def _read_captions(ws, lay, rev, until_rev):
    """Apply the captions messages a page gets until it has ``until_rev``; (layout, revision, kinds)."""
    kinds = []
    while rev != until_rev:
        msg = json.loads(ws.recv(timeout=5))
        if msg["type"] in ("captions", "captions_diff"):
            kinds.append((msg["type"], len(json.dumps(msg))))
            lay, rev, applied = apply_message(lay, rev, msg)
            assert applied
    return lay, rev, kinds


def test_pages_get_what_changed_and_late_or_lost_pages_the_whole_layout(server):
    """Each revision reaches a page as a diff from the one it has; a page joining late, and
    one that lost track and asks for a resync, get the whole layout: all of them end up
    with the layout of the engine's captions."""
    host = f"127.0.0.1:{server.port}"
    caps = captions(200, 0)
    server.publish(caps, 1)
    with connect(f"ws://{host}/ws?mode=rollup&lines=2&width=42", max_size=None) as page:
        lay, rev, kinds = _read_captions(page, None, None, 1)
        assert [k for k, _ in kinds] == ["captions"]  # on connecting: all of it
        whole = kinds[0][1]
        for r in range(2, 12):  # a growing answer: the last caption re-timed, one more added
            last = caps[-1]
            caps = caps[:-1] + [Caption(last.item_id, last.role, last.index, last.text, last.start_ms,
                                        last.end_ms + 50, 0.0, False),
                                Caption("item10", "assistant", r, f" more{r}", 20000.0 + 100 * r,
                                        20100.0 + 100 * r, 0.0, False)]
            server.publish(caps, r)
        lay, rev, kinds = _read_captions(page, lay, rev, 11)
        assert {k for k, _ in kinds} == {"captions_diff"}
        assert max(size for _, size in kinds) < whole / 10  # only the end of the layout travels
        expected = json.loads(json.dumps(layout(caps, "rollup", 42, 2).to_json()))
        assert lay == expected

        with connect(f"ws://{host}/ws?mode=rollup&lines=2&width=42", max_size=None) as late:
            late_lay, _, late_kinds = _read_captions(late, None, None, 11)
            assert [k for k, _ in late_kinds] == ["captions"] and late_lay == expected

        page.send(json.dumps({"type": "resync"}))  # a page that lost track of what it has
        lay, rev, kinds = _read_captions(page, {"lost": True}, "lost", 11)
        assert [k for k, _ in kinds] == ["captions"] and lay == expected
        caps = caps + [Caption("item11", "assistant", 0, " again", 30000.0, 30100.0, 0.0, True)]
        server.publish(caps, 12)
        lay, rev, kinds = _read_captions(page, lay, rev, 12)
        assert [k for k, _ in kinds] == ["captions_diff"]
        assert lay == json.loads(json.dumps(layout(caps, "rollup", 42, 2).to_json()))
