"""The playground's HTTP API against a real server on 127.0.0.1 (a free port, in a thread)."""
from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastmlp
from fastmlp.__main__ import main as fastmlp_main
from fastmlp.playground import features, grids
from fastmlp.playground.server import MAX_JSON_BYTES, make_server

ROOT = pathlib.Path(__file__).resolve().parents[1]


class Client:
    """Requests to one server; a fresh connection each time (the server may close one after an error)."""

    def __init__(self, server):
        self.host, self.port = server.server_address[:2]

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, expect=200):
        status, headers, raw = self.request(method, path, body)
        payload = json.loads(raw)
        assert status == expect, (status, payload)
        return payload

    def raw(self, data: bytes) -> bytes:
        """Send bytes as they are (for requests http.client would refuse or fix up); the whole answer."""
        with socket.create_connection((self.host, self.port), timeout=10) as s:
            s.sendall(data)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
            return b"".join(chunks)

    def new_session(self, config=None):
        answer = self.json("POST", "/api/session", {"config": config or {}})
        return answer["session"], answer["state"]

    def alive(self):
        status, _, raw = self.request("GET", "/api/info")
        return status == 200 and "backends" in json.loads(raw)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _serve(**options):
    server = make_server("127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def server():
    srv, thread = _serve(max_upload=64 * 1024)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def client(server):
    return Client(server)


# ---- pages and basics -----------------------------------------------------------------------------------------

def test_page_and_its_files_are_served(client):
    status, headers, body = client.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="/static/js/main.js">' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("main.js", "api.js", "network.js", "heatmap.js", "chart.js", "colors.js", "config.js"):
        status, headers, body = client.request("GET", f"/static/js/{name}")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript"), name
    status, headers, _ = client.request("GET", "/static/playground.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")


def test_info(client):
    info = client.json("GET", "/api/info")
    assert info["backends"] == fastmlp.available_backends()
    assert info["defaults"]["layers"] == [4, 2]
    assert set(info["previews"]) == {"circle", "xor", "gaussians", "spiral", "plane", "multi_gaussian"}


def test_reset_step_and_loss_falls_on_circle(client, server):
    sid, state = client.new_session({"dataset": "circle"})
    assert state["epoch"] == 0 and state["version"] == 1 and "data" in state
    first = state["loss"]["test"]
    assert 0.3 < first < 1.0
    g = state["grids"]
    assert len(grids.decode(g["output"])) == g["output_size"] ** 2
    for epoch in range(10, 110, 10):
        state = client.json("POST", "/api/step", {"session": sid, "epochs": 10})["state"]
        assert state["epoch"] == epoch and state["history"][-1][0] == epoch
        assert "data" not in state  # steps do not resend the points
    assert state["loss"]["test"] < 0.1 < first
    assert len(state["history"]) == 1  # only the new point
    full = client.json("GET", f"/api/state?session={sid}")["state"]
    assert len(full["history"]) == 11 and full["epoch"] == 100
    again = client.json("POST", "/api/reset", {"session": sid})["state"]
    assert again["epoch"] == 0 and again["version"] == 2
    assert again["loss"]["test"] == pytest.approx(first)  # same seed: same start


def test_configure(client):
    sid, _ = client.new_session()
    client.json("POST", "/api/step", {"session": sid, "epochs": 5})
    live = client.json("POST", "/api/configure", {"session": sid, "config": {"lr": 0.1, "regularization": "l2",
                                                                             "reg_rate": 0.001}})
    assert live["reset"] is False and live["state"]["epoch"] == 5 and live["state"]["config"]["lr"] == 0.1
    new = client.json("POST", "/api/configure", {"session": sid, "config": {"layers": [8, 8, 3],
                                                                            "activation": "relu"}})
    assert new["reset"] is True and new["state"]["epoch"] == 0 and "data" in new["state"]
    assert new["state"]["network"]["layer_sizes"] == [2, 8, 8, 3, 1]


def test_step_latency_allows_20_updates_a_second(client):
    sid, _ = client.new_session()  # the default set-up
    times = []
    for _ in range(40):
        t0 = time.perf_counter()
        client.json("POST", "/api/step", {"session": sid, "epochs": 1})
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(f"\nstep round trip (new connection each), default set-up: median {median * 1e3:.2f} ms, "
          f"max {max(times) * 1e3:.2f} ms")
    assert median < 0.05  # 20 updates a second leave 50 ms per update


# ---- bad requests: 400 + message, nothing changes, the server goes on ---------------------------------------------

BAD_CONFIGS = [
    {"lr": 0}, {"lr": 100}, {"lr": "fast"}, {"noise": 70}, {"noise": True}, {"layers": [9]},
    {"layers": [1, 1, 1, 1, 1, 1, 1]}, {"layers": "4,2"}, {"batch_size": 0}, {"train_ratio": 5},
    {"features": []}, {"features": ["x3"]}, {"dataset": "moons"}, {"activation": "gelu"},
    {"regularization": "l3"}, {"backend": "cuda"}, {"colour": "red"}, {"dataset": "plane"},
    {"dataset": "custom"}, {"samples": 10**9}, {"seed": -5},
]


@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[json.dumps(b) for b in BAD_CONFIGS])
def test_bad_configuration_is_400_and_changes_nothing(client, bad):
    sid, _ = client.new_session()
    client.json("POST", "/api/step", {"session": sid, "epochs": 3})
    before = client.json("GET", f"/api/state?session={sid}")["state"]
    answer = client.json("POST", "/api/configure", {"session": sid, "config": bad}, expect=400)
    assert answer["error"]
    after = client.json("GET", f"/api/state?session={sid}")["state"]
    assert (after["config"], after["epoch"], after["version"]) == (before["config"], before["epoch"], before["version"])
    assert after["network"] == before["network"]
    assert client.json("POST", "/api/session", {"config": bad}, expect=400)["error"]
    assert client.alive()


def _bad_requests(sid):
    """(method, path, body, headers, expected status, words in the message)."""
    return [
        ("POST", "/api/session", b"{not json", {}, 400, "malformed JSON"),
        ("POST", "/api/session", b"[1, 2]", {}, 400, "JSON object"),
        ("POST", "/api/session", b'{"config": {"lr": NaN}}', {}, 400, "malformed JSON"),
        ("POST", "/api/session", b"\xff\xfe{}", {}, 400, "malformed JSON"),
        ("POST", "/api/session", b'{"config": 3}', {}, 400, "JSON object"),
        ("POST", "/api/session", b'{"config": {}, "extra": 1}', {}, 400, "unknown field"),
        ("POST", "/api/step", json.dumps({"session": sid, "epochs": 0}), {}, 400, "epochs"),
        ("POST", "/api/step", json.dumps({"session": sid, "epochs": 10**6}), {}, 400, "epochs"),
        ("POST", "/api/step", json.dumps({"session": sid, "epochs": "many"}), {}, 400, "epochs"),
        ("POST", "/api/step", json.dumps({"session": sid, "turbo": True}), {}, 400, "unknown field"),
        ("POST", "/api/step", json.dumps({"epochs": 1}), {}, 400, "missing field"),
        ("POST", "/api/step", json.dumps({"session": "no-such-session"}), {}, 400, "unknown or expired session"),
        ("POST", "/api/step", json.dumps({"session": 12}), {}, 400, "session"),
        ("POST", "/api/configure", json.dumps({"session": sid}), {}, 400, "missing field"),
        ("POST", "/api/reset", json.dumps({"session": "nope"}), {}, 400, "unknown or expired session"),
        ("GET", "/api/state?session=nope", None, {}, 400, "unknown or expired session"),
        ("GET", "/api/state", None, {}, 400, "missing field"),
        ("GET", "/api/state?session=a&x=1", None, {}, 400, "unknown field"),
        ("GET", "/api/export/model?session=nope", None, {}, 400, "unknown or expired session"),
        ("GET", "/api/export/snippet?session=nope", None, {}, 400, "unknown or expired session"),
        ("POST", "/api/upload?session=nope", b"1,2,1\n", {}, 400, "unknown or expired session"),
        ("POST", "/api/session", b"{" + b" " * (MAX_JSON_BYTES + 10) + b"}", {}, 400, "too large"),
        ("POST", f"/api/upload?session={sid}", b"1,1,1\n" * 20000, {}, 400, "too large"),
        ("GET", "/api/step", None, {}, 405, "takes POST"),
        ("POST", "/api/info", b"{}", {}, 405, "takes GET"),
        ("GET", "/api/nope", None, {}, 404, "no such page"),
        ("GET", "/nope.html", None, {}, 404, "no such page"),
        ("GET", "/api/info", None, {"Host": "evil.example:80"}, 403, "not this local server"),
        ("GET", "/api/info", None, {"Host": "127.0.0.1.evil.example"}, 403, "not this local server"),
        ("PUT", "/api/step", b"{}", {}, 501, "Unsupported method"),
    ]


def test_every_bad_request_is_answered_with_a_message(client):
    sid, _ = client.new_session()
    client.json("POST", "/api/step", {"session": sid, "epochs": 2})
    before = client.json("GET", f"/api/state?session={sid}")["state"]
    for method, path, body, headers, status, words in _bad_requests(sid):
        got, head, raw = client.request(method, path, body, headers)
        payload = json.loads(raw)
        assert got == status, (method, path, got, payload)
        assert words in payload["error"], (path, payload)
        assert head["Content-Type"].startswith("application/json")
        assert client.alive(), (method, path)
    after = client.json("GET", f"/api/state?session={sid}")["state"]
    assert (after["epoch"], after["config"], after["network"]) == (before["epoch"], before["config"],
                                                                   before["network"])


def test_requests_without_length_or_chunked_are_refused(client):
    port = client.port
    no_length = client.raw(b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    assert no_length.startswith(b"HTTP/1.1 400") and b"Content-Length" in no_length
    chunked = client.raw(b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"2\r\n{}\r\n0\r\n\r\n" % port)
    assert chunked.startswith(b"HTTP/1.1 400") and b"chunked" in chunked
    bad_length = client.raw(b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: -3\r\n\r\n" % port)
    assert bad_length.startswith(b"HTTP/1.1 400")
    garbage = client.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.") and b" 400 " in garbage.split(b"\r\n")[0]
    assert client.alive()


def test_keep_alive_survives_refused_bodies(client):
    """One connection, as a browser keeps it: steps reuse it, and a body refused unread closes it (so the
    body's bytes are never read as the next request)."""
    sid, _ = client.new_session()
    conn = http.client.HTTPConnection(client.host, client.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("POST", "/api/step", json.dumps({"session": sid}))
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("Connection") != "close"
            r.read()
        conn.request("POST", "/api/upload?session=nope", b"1,2,1\n" * 50)
        r = conn.getresponse()
        assert r.status == 400 and r.getheader("Connection") == "close"
        r.read()
        conn.request("POST", "/api/step", json.dumps({"session": sid}))  # http.client reconnects
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["state"]["epoch"] == 4
    finally:
        conn.close()


def test_example_csv_is_accepted(client):
    status, _, body = client.request("GET", "/static/example_moons.csv")
    assert status == 200
    sid, _ = client.new_session()
    assert "200 points, classification" in client.json("POST", f"/api/upload?session={sid}", body)["message"]


TRAVERSALS = [
    "/../../etc/passwd", "/static/../../../../etc/passwd", "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/etc/passwd", "/static/%2e%2e/server.py", "/static/js/../../server.py", "//etc/passwd",
    "/static//etc/passwd", "/static/js/..\\..\\server.py", "/static/%2e%2e%5cserver.py", "/static/..",
    "/static/", "/static/js/", "/etc/passwd", "/static/../session.py", "/static/js/%2e%2e/%2e%2e/__init__.py",
    "/static/main.js%00.png", "/static/./index.html", "/STATIC/index.html",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_rejected(client, path):
    answer = client.raw(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\nConnection: close\r\n\r\n"
                        .encode())
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split()[1] in (b"400", b"404"), (path, status_line)
    assert b"root:" not in answer and b"import " not in answer and b"def " not in answer
    assert client.alive()


# ---- sessions -------------------------------------------------------------------------------------------------------

def test_sessions_expire_and_are_capped():
    srv, thread = _serve(ttl=0.4, max_sessions=3)
    try:
        c = Client(srv)
        sid, _ = c.new_session()
        c.json("POST", "/api/step", {"session": sid})
        time.sleep(0.7)
        assert "expired" in c.json("POST", "/api/step", {"session": sid}, expect=400)["error"]
        ids = [c.new_session()[0] for _ in range(4)]  # one over the cap: the oldest is dropped
        assert len(srv.store) == 3
        c.json("POST", "/api/step", {"session": ids[0]}, expect=400)
        for sid in ids[1:]:
            c.json("POST", "/api/step", {"session": sid})
        assert c.json("POST", "/api/close", {"session": ids[1]})["closed"] is True
        c.json("POST", "/api/step", {"session": ids[1]}, expect=400)
        assert c.alive()
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def test_sessions_are_independent(client):
    a, _ = client.new_session({"activation": "relu"})
    b, _ = client.new_session({"layers": [1]})
    client.json("POST", "/api/step", {"session": a, "epochs": 4})
    sa = client.json("GET", f"/api/state?session={a}")["state"]
    sb = client.json("GET", f"/api/state?session={b}")["state"]
    assert (sa["epoch"], sb["epoch"]) == (4, 0)
    assert sa["config"]["activation"] == "relu" and sb["config"]["layers"] == [1]


def test_concurrent_steps_on_one_session_are_serialized(client):
    sid, _ = client.new_session()
    errors = []

    def work():
        try:
            for _ in range(5):
                client.json("POST", "/api/step", {"session": sid, "epochs": 2})
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert client.json("GET", f"/api/state?session={sid}")["state"]["epoch"] == 40


# ---- uploads ---------------------------------------------------------------------------------------------------------

def _xor_csv(n=120, seed=0, header=True):
    X = np.random.default_rng(seed).uniform(-5, 5, (n, 2))
    rows = [f"{a:.4f},{b:.4f},{1 if a * b > 0 else 0}" for a, b in X]
    return ("x1,x2,label\n" if header else "") + "\n".join(rows) + "\n"


def test_csv_upload_good(client):
    sid, _ = client.new_session()
    answer = client.json("POST", f"/api/upload?session={sid}", _xor_csv().encode())
    assert "120 points, classification" in answer["message"]
    state = answer["state"]
    assert state["config"]["dataset"] == "custom" and state["custom"]
    assert len(state["data"]["train"]) + len(state["data"]["test"]) == 120
    config = {"features": ["x1x2"], "layers": []}
    state = client.json("POST", "/api/configure", {"session": sid, "config": config})["state"]
    for _ in range(5):
        state = client.json("POST", "/api/step", {"session": sid, "epochs": 20})["state"]
    assert state["loss"]["test"] < 0.1  # x1·x2 alone separates XOR
    regression = "1,2,0.5\n-1,-2,3.25\n3,3,-1\n0,0,2\n2,-2,0.1\n"
    answer = client.json("POST", f"/api/upload?session={sid}", regression.encode("utf-8-sig"))
    assert answer["state"]["config"]["problem"] == "regression"


@pytest.mark.parametrize("body, words", [
    (b"", "empty"), (b"1,2\n3,4\n", "line 1: expected 3"), (b"x1,x2,y\n1,2,1\n1.5,abc,1\n", "line 3"),
    (b"1,2,nan\n", "finite"), (b"9,0,1\n1,1,1\n0,0,-1\n1,2,1\n", "outside"), (b"1,1,1\n", "at least"),
    (b"\xff\xfe\x00\x01", "UTF-8"), (b"a\x00b,c,d\n", "NUL"),
])
def test_csv_upload_malformed(client, body, words):
    sid, _ = client.new_session()
    answer = client.json("POST", f"/api/upload?session={sid}", body, expect=400)
    assert words in answer["error"]
    state = client.json("GET", f"/api/state?session={sid}")["state"]
    assert state["config"]["dataset"] == "circle" and state["custom"] is None


# ---- export ----------------------------------------------------------------------------------------------------------

def test_export_model_loads_and_predicts_the_same(client, server, tmp_path):
    sid, _ = client.new_session({"features": ["x1", "x2", "x1sq", "x2sq"], "layers": [5, 3],
                                 "activation": "softplus"})
    client.json("POST", "/api/step", {"session": sid, "epochs": 25})
    status, headers, body = client.request("GET", f"/api/export/model?session={sid}")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    path = tmp_path / "model.npz"
    path.write_bytes(body)
    loaded = fastmlp.load(path)
    session = server.store.get(sid)
    F = features.transform(grids.plane(16), session.config.features).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(F), session.net.predict(F), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(loaded.params, session.net.params)
    assert loaded.layer_sizes == (4, 5, 3, 1)


def test_export_snippet_recreates_the_same_network(client, server, tmp_path, monkeypatch):
    sid, _ = client.new_session({"dataset": "xor", "noise": 10, "layers": [6], "regularization": "l1",
                                 "reg_rate": 0.001, "batch_size": 7, "train_ratio": 70, "seed": 11})
    for _ in range(3):
        client.json("POST", "/api/step", {"session": sid, "epochs": 4})
    status, headers, body = client.request("GET", f"/api/export/snippet?session={sid}")
    assert status == 200 and headers["Content-Type"].startswith("text/x-python")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(body.decode(), "snippet.py", "exec"), namespace)
    np.testing.assert_array_equal(namespace["net"].params, server.store.get(sid).net.params)
    assert (tmp_path / "playground_model.npz").exists()


# ---- the command line ------------------------------------------------------------------------------------------------

def _png_size(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height, len(data)


def test_headless_png(tmp_path, capsys):
    out = tmp_path / "spiral.png"
    code = fastmlp_main(["playground", "--headless", "--dataset", "spiral", "--layers", "8,8", "--activation",
                         "tanh", "--epochs", "120", "--out", str(out), "--width", "900", "--height", "450"])
    assert code == 0
    width, height, size = _png_size(out)
    assert (width, height) == (900, 450) and size > 20_000
    text = capsys.readouterr().out
    assert "120 epochs" in text and "test loss" in text and "layers=8,8" in text
    default = tmp_path / "default.png"
    assert fastmlp_main(["playground", "--headless", "--epochs", "30", "--out", str(default)]) == 0
    assert _png_size(default)[:2] == (1200, 600)


def test_headless_from_a_link_and_bad_options(tmp_path, capsys):
    out = tmp_path / "link.png"
    link = "http://127.0.0.1:8000/#dataset=plane&problem=regression&layers=3&activation=relu&show_test=true"
    assert fastmlp_main(["playground", "--headless", "--url", link, "--epochs", "20", "--out", str(out)]) == 0
    assert "dataset=plane" in capsys.readouterr().out
    assert fastmlp_main(["playground", "--headless", "--layers", "9,9", "--out", str(out)]) == 2
    assert "layers[0]" in capsys.readouterr().err
    assert fastmlp_main(["playground", "--headless", "--url", "#lr=zero", "--out", str(out)]) == 2
    assert fastmlp_main(["playground", "--session-ttl", "0"]) == 2
    assert fastmlp_main(["playground", "--port", "70000"]) == 2


def test_command_serves_the_page():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "fastmlp", "playground", "--port", "0", "--layers", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("fastmlp playground: http://127.0.0.1:"), line
        url = line.split()[2]
        assert url.endswith("#" + url.split("#", 1)[1]) and "layers=3" in url
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)
