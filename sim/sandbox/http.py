"""The sandbox's HTTP layer (standard library): every request gets an HTTP answer with a JSON error.

* ``GET /``, ``GET /static/<file>``, ``GET /api/controls``, ``GET /api/health``; ``POST /api/simulate`` (the
  plots), ``POST /api/claims`` (the claims table of the same setting, asked for after the plots are drawn),
  ``POST /api/progress`` (state and fraction done of a setting's simulation); each POST body is the controls.
* Request bodies: at most :data:`MAX_BODY_BYTES` (413 above), a valid non-negative ``Content-Length`` (400 when
  missing, invalid or negative), a JSON object of scalar values (400 for malformed JSON, nesting, NaN/Infinity,
  integers beyond 64 bits). Paths: NUL bytes 400, longer than :data:`MAX_PATH` 414.
* Connections are served by a fixed pool of :data:`CONNECTION_WORKERS` threads with a bounded backlog
  (:data:`CONNECTION_BACKLOG`; beyond it 503 at once); each connection has a read timeout of
  :data:`READ_TIMEOUT_S` (a slow client cannot hold a thread).
* New settings go to the bounded simulation queue (:mod:`sim.sandbox.jobs`): 503 with ``Retry-After`` when it is
  full; a request whose client closes the connection is cancelled.
"""

from __future__ import annotations

import json
import queue
import select
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

from sim.sandbox.controls import STATIC_DIR, ControlError, controls_spec, parse_controls
from sim.sandbox.jobs import CACHE, Busy, Cancelled

MAX_BODY_BYTES = 16 * 1024
MAX_PATH = 2048
READ_TIMEOUT_S = 10.0
CONNECTION_WORKERS = 32
CONNECTION_BACKLOG = 512
MAX_JSON_INT = 2**63

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"


class BadRequest(ValueError):
    def __init__(self, status: int, msg: str):
        super().__init__(msg)
        self.status = status


def _int(s: str) -> int:
    if len(s.lstrip("-")) > 19 or abs(int(s)) > MAX_JSON_INT:
        raise BadRequest(400, f"integer {s[:20]}... is too large; allowed: |n| < 2**63")
    return int(s)


def _no_constant(s: str):
    raise BadRequest(400, f"{s} is not allowed in the request body; allowed: finite numbers")


def parse_body(raw: bytes) -> dict:
    """The request body as a JSON object of scalars (strings, numbers, booleans, null)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(400, f"request body is not valid JSON (not UTF-8: {e.reason})") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_int=_int, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise BadRequest(400, f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest(400, "request body is nested too deeply; allowed: one JSON object of scalar values") from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"request body: expected a JSON object, got {type(data).__name__}")
    for k, v in data.items():
        if isinstance(v, (dict, list)):
            raise BadRequest(400, f"{k}: expected a single value (string, number, true/false), got a "
                                  f"{'list' if isinstance(v, list) else 'object'}")
    return data


class Handler(BaseHTTPRequestHandler):
    server_version = "dmnsim-sandbox"
    protocol_version = "HTTP/1.0"
    timeout = READ_TIMEOUT_S  # socket timeout for every read of this connection
    quiet = False

    def log_message(self, fmt, *args):  # noqa: D401 - one short line per request unless quiet
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def send_error(self, code, message=None, explain=None):  # http.server's own errors (bad request line ...)
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":  # answer with headers even so
            self.request_version = "HTTP/1.0"
        try:
            self._json(code, {"error": message or HTTPStatus(code).phrase})
        except (OSError, ValueError):
            pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", _CSP)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, status: int, obj, headers=()) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), headers=headers)

    def _check_path(self) -> str:
        if len(self.path) > MAX_PATH:
            raise BadRequest(414, f"path longer than {MAX_PATH} characters")
        if "\x00" in self.path or "%00" in self.path:
            raise BadRequest(400, "path contains a NUL byte")
        return self.path.split("?", 1)[0]

    def do_GET(self):  # noqa: N802 - http.server's naming
        try:
            path = self._check_path()
        except BadRequest as e:
            return self._json(e.status, {"error": str(e)})
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"))
        if path == "/api/controls":
            return self._json(200, controls_spec())
        if path == "/api/health":
            return self._json(200, {"ok": True, **CACHE.stats, "queued": len(CACHE.jobs),
                                    "claims_queued": len(CACHE.claims_jobs)})
        return self._json(404, {"error": f"not found: {path[:200]}"})

    def _static(self, name: str) -> None:
        try:
            f = (STATIC_DIR / name).resolve()
        except (OSError, ValueError):
            return self._json(404, {"error": "not found"})
        if STATIC_DIR not in f.parents or not f.is_file():
            return self._json(404, {"error": f"not found: {name[:200]}"})
        self._send(200, f.read_bytes(), _TYPES.get(f.suffix, "application/octet-stream"))

    def _read_body(self) -> bytes:
        raw_len = self.headers.get("Content-Length")
        if raw_len is None:
            if self.headers.get("Transfer-Encoding"):
                raise BadRequest(400, "chunked bodies are not accepted; send Content-Length")
            raise BadRequest(400, "Content-Length is missing; allowed: a whole number of bytes")
        try:
            n = int(raw_len.strip())
        except ValueError:
            raise BadRequest(400, f"Content-Length {raw_len[:40]!r} is not a whole number") from None
        if n < 0:
            raise BadRequest(400, f"Content-Length {n} is negative")
        if n > MAX_BODY_BYTES:
            raise BadRequest(413, f"request body of {n} bytes is too large; allowed: at most {MAX_BODY_BYTES} bytes")
        try:
            raw = self.rfile.read(n)
        except TimeoutError:
            raise BadRequest(408, f"request body not received within {READ_TIMEOUT_S:g} s") from None
        if len(raw) != n:
            raise BadRequest(400, f"request body has {len(raw)} bytes, Content-Length said {n}")
        return raw

    def do_POST(self):  # noqa: N802
        try:
            path = self._check_path()
            if path not in ("/api/simulate", "/api/claims", "/api/progress"):
                return self._json(404, {"error": f"not found: {path[:200]}"})
            data = parse_body(self._read_body())
            c = parse_controls(data)
        except BadRequest as e:
            self.close_connection = True
            return self._json(e.status, {"error": str(e)})
        except ControlError as e:
            return self._json(400, {"error": str(e)})
        if path == "/api/progress":
            return self._json(200, CACHE.progress(c))
        t0 = time.perf_counter()
        try:
            body, cached = self._payload(c, claims=path == "/api/claims")
        except Busy as e:
            return self._json(503, {"error": str(e)}, headers=[("Retry-After", str(e.retry_after_s))])
        except Cancelled:
            return None  # the client has gone: nobody to answer
        except Exception as e:  # noqa: BLE001 - the model cannot run these settings (or a bug): still an answer
            from sim.errors import ConfigError
            from sim.integrate import IntegrationError

            if isinstance(e, (ConfigError, IntegrationError)):
                return self._json(400, {"error": f"the model cannot run these settings: {e}"})
            return self._json(500, {"error": f"internal error: {type(e).__name__}: {e}"})
        # splice the per-request fields into the cached JSON object without re-encoding it
        extra = json.dumps({"cached": cached, "server_s": round(time.perf_counter() - t0, 4)})[1:-1]
        self._send(HTTPStatus.OK, body[:-1] + b"," + extra.encode() + b"}")

    def _client_gone(self) -> bool:
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _payload(self, c, claims: bool = False) -> tuple[bytes, bool]:
        body = CACHE.lookup_claims(c) if claims else CACHE.lookup(c)
        if body is not None:
            return body, True
        job = CACHE.submit_claims(c) if claims else CACHE.submit(c)
        released = False
        try:
            while not job.done.wait(0.2):
                if self._client_gone():
                    CACHE.release(job)
                    released = True
                    raise Cancelled("client went away")
        finally:
            if not released:
                with CACHE.lock:
                    job.waiters -= 1
        if job.cancelled and job.body is None and job.error is None:
            raise Cancelled("cancelled")
        return CACHE.result(job), False


class PooledHTTPServer(HTTPServer):
    """An HTTP server whose connections are handled by a fixed pool of threads with a bounded backlog (the
    standard ThreadingHTTPServer starts one unbounded thread per connection)."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, addr, handler, workers: int = CONNECTION_WORKERS, backlog: int = CONNECTION_BACKLOG):
        super().__init__(addr, handler)
        self.pending: queue.Queue = queue.Queue(maxsize=backlog)
        self.workers = [threading.Thread(target=self._serve_pending, daemon=True, name=f"sandbox-http-{i}")
                        for i in range(workers)]
        for t in self.workers:
            t.start()

    def process_request(self, request, client_address):
        try:
            self.pending.put_nowait((request, client_address))
        except queue.Full:
            try:
                body = b'{"error":"the server is busy; try again"}'
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Type: "
                                b"application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass
            self.shutdown_request(request)

    def _serve_pending(self):
        while True:
            item = self.pending.get()
            if item is None:
                return
            request, addr = item
            try:
                self.finish_request(request, addr)
            except Exception:  # noqa: BLE001 - one bad connection never stops a worker
                self.handle_error(request, addr)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request, client_address):
        if not getattr(self.RequestHandlerClass, "quiet", False):
            super().handle_error(request, client_address)

    def server_close(self):
        super().server_close()
        for _ in self.workers:
            try:
                self.pending.put_nowait(None)
            except queue.Full:
                break


def make_server(port: int = 8765, host: str = "127.0.0.1", quiet: bool = False) -> PooledHTTPServer:
    """A server bound to ``host:port`` (``port`` 0 picks a free port: read ``server.server_address``)."""
    handler = type("SandboxHandler", (Handler,), {"quiet": quiet})
    return PooledHTTPServer((host, port), handler)
