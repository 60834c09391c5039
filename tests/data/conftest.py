"""A local HTTP server for the download tests: Range requests, cut transfers, a request log."""
from __future__ import annotations

import http.server
import importlib.util
import re
import socket
import threading
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "data_scripts"


class _State:
    def __init__(self):
        self.files = {}           # url path -> bytes
        self.cut_after = None     # send only this many body bytes in the next response, then hang up
        self.ignore_range = False  # answer 200 with the whole file even when asked for a range
        self.requests = []        # (path, Range header or None)


def _handler(state: _State):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            state.requests.append((self.path, self.headers.get("Range")))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start, status = 0, 200
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and not state.ignore_range:
                start, status = int(match.group(1)), 206
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if state.cut_after is not None:
                body, state.cut_after = body[: state.cut_after], None
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler


def pytest_collection_modifyitems(config, items):
    """``network`` tests run only when asked for by name (``-m network``): never in ``make test``."""
    if "network" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="network test: run it with `pytest -m network` (downloads ~290 MiB with "
                                   "apt-get; .ci/run does)")
    for item in items:
        if item.get_closest_marker("network"):
            item.add_marker(skip)


@pytest.fixture
def http_server():
    """``(base_url, state)``: put bytes in ``state.files["/name"]``; inspect ``state.requests``."""
    state = _State()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port():
    """A localhost port with nothing listening on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def data_script(monkeypatch):
    """Load ``data_scripts/NAME.py`` as a module (in-process; its ``main(argv)`` returns the exit code)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))

    def load(name):
        spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
