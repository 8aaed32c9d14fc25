"""The playground's HTTP layer: the page's own static files and a small JSON API over session.py.

Standard library only (http.server.ThreadingHTTPServer). Every answer is JSON (or a file); every request
problem is a 4xx with {"error": message} and changes nothing:

    400  malformed JSON, a body too large or without Content-Length, unknown or missing fields,
         out-of-range values, unknown names, a malformed CSV, an unknown or expired session
    403  a Host header naming another site while bound to loopback (DNS-rebinding guard)
    404  any path not listed below (only the files shipped in static/ are served: no path traversal)
    405  a known path with the wrong method

API (JSON bodies; `session` is the id from /api/session):

    GET  /api/info                              backends, defaults, limits, data-set previews
    POST /api/session    {config?}              new session  -> {session, state with data}
    POST /api/configure  {session, config}      apply fields -> {reset: bool, state (data if reset)}
    POST /api/reset      {session}              same config, fresh start -> {state with data}
    POST /api/step       {session, epochs?}     train        -> {state, history: the new points only}
    GET  /api/state?session=ID                  -> {state with data}
    POST /api/upload?session=ID  (CSV text)     x1,x2,label rows -> {message, state with data}
    GET  /api/export/model?session=ID           the trained model, a .npz for fastmlp.load
    GET  /api/export/snippet?session=ID         Python source recreating the run
    POST /api/close      {session}              drop the session (the page sends it when closed)
"""
from __future__ import annotations

import ipaddress
import json
import mimetypes
import pathlib
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .. import __version__
from ..backends import available_backends
from . import config as cfg
from . import data, features
from .errors import PlaygroundError
from .session import MAX_EPOCHS_PER_STEP, SessionStore

STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
MAX_JSON_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 1024 * 1024
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
                           "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'none'")


class RequestError(Exception):
    """An HTTP error answer: status and message (raised anywhere in a handler, answered by `_dispatch`)."""

    def __init__(self, status: int, message: str, close=False):
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


def load_static(directory=STATIC_DIR) -> dict:
    """{url path: (bytes, content type)} of every file under `directory`, read once at start-up.

    The server answers only paths in this table, so no request can name another file."""
    table = {}
    for path in sorted(pathlib.Path(directory).rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if path.suffix == ".js":
                ctype = "text/javascript"  # some platforms' mimetypes tables lack it; modules need it
            if ctype.startswith("text/") or ctype in ("image/svg+xml", "application/json"):
                ctype += "; charset=utf-8"
            table["/static/" + path.relative_to(directory).as_posix()] = (path.read_bytes(), ctype)
    if "/static/index.html" in table:
        table["/"] = table["/index.html"] = table["/static/index.html"]
    return table


def _info() -> dict:
    """What the page needs before its first session: names, defaults, limits, data-set thumbnails."""
    previews = {}
    for name in cfg.CLASSIFICATION_SETS + cfg.REGRESSION_SETS:
        pts = data.generate(name, 160, 0, seed=7)
        previews[name] = [[round(float(a), 2), round(float(b), 2), round(float(c), 3)]
                          for a, b, c in zip(pts.X[:, 0], pts.X[:, 1], pts.y, strict=True)]
    return {
        "version": __version__,
        "backends": available_backends(),
        "defaults": cfg.Config().to_dict(),
        "datasets": {"classification": list(cfg.CLASSIFICATION_SETS), "regression": list(cfg.REGRESSION_SETS)},
        "previews": previews,
        "features": [{"id": k, "label": label, "expression": expr} for k, (label, expr) in features.FEATURES.items()],
        "activations": list(cfg.ACTIVATIONS),
        "regularizations": list(cfg.REGULARIZATIONS),
        "limits": {"max_layers": cfg.MAX_LAYERS, "max_neurons": cfg.MAX_NEURONS,
                   "max_epochs_per_step": MAX_EPOCHS_PER_STEP, "max_upload_bytes": MAX_UPLOAD_BYTES,
                   "max_csv_rows": data.MAX_CSV_ROWS, "extent": data.EXTENT},
    }


def _fields(body: dict, required=(), optional=()) -> dict:
    """body's keys checked against the endpoint's: a missing or unknown one is a 400."""
    missing = [k for k in required if k not in body]
    unknown = sorted(set(body) - set(required) - set(optional))
    if missing:
        raise RequestError(400, f"missing field(s): {', '.join(missing)}")
    if unknown:
        raise RequestError(400, f"unknown field(s): {', '.join(unknown)}; this request takes "
                                f"{', '.join(list(required) + list(optional))}")
    return body


class PlaygroundServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the session store, the static files and the limits."""

    daemon_threads = True  # a hung browser connection never keeps the process alive
    allow_reuse_address = True

    def __init__(self, address, store: SessionStore, static: dict, max_upload=MAX_UPLOAD_BYTES, verbose=False):
        super().__init__(address, PlaygroundHandler)
        self.store, self.static, self.max_upload, self.verbose = store, static, max_upload, verbose
        self.info = _info()
        host = self.server_address[0]
        try:
            self.loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            self.loopback = host == "localhost"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


class PlaygroundHandler(BaseHTTPRequestHandler):
    server_version = f"fastmlp-playground/{__version__}"
    protocol_version = "HTTP/1.1"  # keep-alive: the page's 20+ requests a second reuse one connection
    timeout = 60  # a silent client gives up its thread after a minute
    # Headers and body go out in two writes: with Nagle's algorithm on, the body would wait for the
    # client's delayed ACK of the headers (~40 ms), capping the page at ~20 updates a second.
    disable_nagle_algorithm = True
    # An unparseable request line is answered with a status line (HTTP/0.9 would get a bare body).
    default_request_version = "HTTP/1.0"

    # ---- plumbing -------------------------------------------------------------------------------------
    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _send(self, status, body: bytes, ctype, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in extra:
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """The framework's own refusals (a garbled request line, an unsupported method, oversized
        headers) as JSON too, like every other error."""
        self.close_connection = True
        try:
            self._json(code, {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def _json(self, status, obj):
        body = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", [("Cache-Control", "no-store")])

    def _body(self, limit) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(400, "chunked request bodies are not supported; send Content-Length", close=True)
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(400, "the request needs a Content-Length header and a body", close=True)
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise RequestError(400, f"bad Content-Length {length!r}", close=True) from None
        if n > limit:
            # unread: the connection is closed afterwards instead of draining what may be gigabytes
            raise RequestError(400, f"request body too large: {n} bytes, at most {limit}", close=True)
        raw = self.rfile.read(n)
        self._body_read = True
        if len(raw) != n:
            raise RequestError(400, "the request body ended early", close=True)
        return raw

    def _unread_body(self) -> bool:
        """Whether the request came with a body that was refused before being read: the connection must
        then close, or those bytes would be taken for the next request on it."""
        return not self._body_read and self.headers.get("Content-Length", "0").strip() not in ("", "0")

    def _json_body(self) -> dict:
        raw = self._body(MAX_JSON_BYTES)

        def reject(constant):
            raise ValueError(f"{constant} is not valid JSON")
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=reject)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise RequestError(400, f"malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError(400, f"the body must be a JSON object, got {type(body).__name__}")
        return body

    def _query(self, query) -> dict:
        try:
            params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=10)
        except ValueError as exc:
            raise RequestError(400, f"malformed query string: {exc}") from None
        return {k: v[-1] for k, v in params.items()}

    def _session(self, sid):
        return self.server.store.get(sid)

    def _check_host(self):
        """While bound to loopback, refuse requests naming another host: a page of another site whose
        name was made to resolve to 127.0.0.1 (DNS rebinding) must not drive this server."""
        if not self.server.loopback:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):  # [::1]:port
            name = host[1:host.find("]")] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if name == "localhost":
            return
        try:
            if ipaddress.ip_address(name).is_loopback:
                return
        except ValueError:
            pass
        raise RequestError(403, f"Host {host[:100]!r} is not this local server")

    # ---- dispatch -------------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        self._body_read = False
        try:
            self._check_host()
            parts = urlsplit(self.path)
            route = self.ROUTES.get(parts.path)
            if route is None:
                if method == "GET" and parts.path in self.server.static:
                    return self._static(parts.path)
                raise RequestError(404, f"no such page or API endpoint: {parts.path[:200]!r}")
            want, handler = route
            if want != method:
                raise RequestError(405, f"{parts.path} takes {want}, not {method}")
            handler(self, self._query(parts.query))
        except RequestError as exc:
            self.close_connection = self.close_connection or exc.close or self._unread_body()
            self._json(exc.status, {"error": exc.message})
        except PlaygroundError as exc:
            self.close_connection = self.close_connection or self._unread_body()
            self._json(400, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug, not bad input: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._json(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
            except OSError:
                pass

    def _static(self, path):
        body, ctype = self.server.static[path]
        extra = [("Cache-Control", "no-cache")]
        if ctype.startswith("text/html"):
            extra.append(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        self._send(200, body, ctype, extra)

    # ---- endpoints ------------------------------------------------------------------------------------
    def api_info(self, query):
        self._json(200, self.server.info)

    def api_session(self, query):
        body = _fields(self._json_body(), optional=("config",))
        config = body.get("config")
        sid, session = self.server.store.create({} if config is None else config)
        with session.lock:
            self._json(200, {"session": sid, "state": session.state(include_data=True)})

    def api_configure(self, query):
        body = _fields(self._json_body(), required=("session", "config"))
        session = self._session(body["session"])
        with session.lock:
            reset = session.configure(body["config"])
            self._json(200, {"reset": reset, "state": session.state(include_data=reset)})

    def api_reset(self, query):
        body = _fields(self._json_body(), required=("session",))
        session = self._session(body["session"])
        with session.lock:
            session.reset()
            self._json(200, {"state": session.state(include_data=True)})

    def api_step(self, query):
        body = _fields(self._json_body(), required=("session",), optional=("epochs",))
        session = self._session(body["session"])
        with session.lock:
            before = session.epoch
            session.step(body.get("epochs", 1))
            self._json(200, {"state": session.state(history_since=before)})

    def api_state(self, query):
        session = self._session(_fields(query, required=("session",))["session"])
        with session.lock:
            self._json(200, {"state": session.state(include_data=True)})

    def api_upload(self, query):
        sid = _fields(query, required=("session",))["session"]
        session = self._session(sid)
        raw = self._body(self.server.max_upload)
        try:
            text = raw.decode("utf-8-sig")  # -sig: spreadsheet programs like to start with a BOM
        except UnicodeDecodeError:
            raise RequestError(400, "the CSV is not UTF-8 text") from None
        with session.lock:
            message = session.upload_csv(text)
            self._json(200, {"message": message, "state": session.state(include_data=True)})

    def api_export_model(self, query):
        session = self._session(_fields(query, required=("session",))["session"])
        with session.lock:
            body = session.export_npz()
            name = f"fastmlp-playground-{session.config.dataset}-epoch{session.epoch}.npz"
        self._send(200, body, "application/octet-stream",
                   [("Content-Disposition", f'attachment; filename="{name}"'), ("Cache-Control", "no-store")])

    def api_export_snippet(self, query):
        session = self._session(_fields(query, required=("session",))["session"])
        with session.lock:
            text = session.snippet()
        self._send(200, text.encode("utf-8"), "text/x-python; charset=utf-8", [("Cache-Control", "no-store")])

    def api_close(self, query):
        body = _fields(self._json_body(), required=("session",))
        self._json(200, {"closed": self.server.store.drop(body["session"])})

    ROUTES = {
        "/api/info": ("GET", api_info),
        "/api/session": ("POST", api_session),
        "/api/configure": ("POST", api_configure),
        "/api/reset": ("POST", api_reset),
        "/api/step": ("POST", api_step),
        "/api/state": ("GET", api_state),
        "/api/upload": ("POST", api_upload),
        "/api/export/model": ("GET", api_export_model),
        "/api/export/snippet": ("GET", api_export_snippet),
        "/api/close": ("POST", api_close),
    }


def make_server(host="127.0.0.1", port=0, ttl=1800.0, max_sessions=32, max_upload=MAX_UPLOAD_BYTES,
                verbose=False, static_dir=STATIC_DIR) -> PlaygroundServer:
    """A bound, not yet serving, server (port 0: a free port; see .url). Call serve_forever()."""
    store = SessionStore(ttl=ttl, max_sessions=max_sessions)
    return PlaygroundServer((host, port), store, load_static(static_dir), max_upload=max_upload, verbose=verbose)


def serve(host="127.0.0.1", port=0, open_browser=False, ttl=1800.0, max_sessions=32, verbose=False,
          fragment="") -> int:
    """Run the playground until Ctrl+C, printing its address (with `fragment`, a configuration query,
    after '#': the page starts from that set-up)."""
    server = make_server(host, port, ttl=ttl, max_sessions=max_sessions, verbose=verbose)
    url = server.url + (f"#{fragment}" if fragment else "")
    print(f"fastmlp playground: {url}\n(backends: {', '.join(available_backends())}; Ctrl+C stops)", flush=True)
    if not server.loopback:
        print("warning: not bound to loopback: anyone who can reach this address can use the playground",
              file=sys.stderr, flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
    finally:
        server.server_close()
    return 0
