"""The playground server through an in-process client: commands, frames, saves, bad values, the job cap."""
import time

import pytest
from starlette.testclient import TestClient

from gankit.playground.server import ServerOptions, create_app

SMALL = {"target": "ring", "recipe": "nonsaturating", "width": 16, "depth": 2, "batch_size": 32,
         "lr_g": 1e-4, "lr_d": 1e-4, "n_critic": 1, "seed": 0}


def next_of(ws, kind, timeout=30.0, where=lambda m: True):
    """The next message of type `kind` that satisfies `where` (frames stream in between)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.receive_json()
        if message["type"] == kind and where(message):
            return message
        if message["type"] == "error" and kind != "error":
            raise AssertionError(message["message"])
    raise AssertionError(f"no {kind} message within {timeout} s")


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(ServerOptions(runs_dir=tmp_path / "runs", max_jobs=1, frames_per_second=50))) as c:
        yield c


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="plane"' in page.text and "/static/app.js" in page.text
    assert "WebSocket" in client.get("/static/app.js").text
    assert client.get("/api/runs").json() == {"runs": []}


def test_session_start_step_pause_reset_save_load(client):
    with client.websocket_connect("/ws") as ws:
        hello = next_of(ws, "hello")
        assert "ring" in hello["targets"] and "wgan-gp" in hello["recipes"]
        ws.send_json({"type": "settings", "settings": SMALL})
        ws.send_json({"type": "step", "n": 3})
        frame = next_of(ws, "frame", where=lambda m: m["step"] >= 3)
        assert frame["step"] == 3 and frame["modes"]["num_modes"] == 8
        ws.send_json({"type": "start"})
        next_of(ws, "frame", where=lambda m: m["step"] >= 10)
        ws.send_json({"type": "pause"})
        ws.send_json({"type": "reset"})
        next_of(ws, "frame", where=lambda m: m["step"] == 0 and not m["running"])
        ws.send_json({"type": "step", "n": 2})
        next_of(ws, "frame", where=lambda m: m["step"] == 2)
        ws.send_json({"type": "save", "name": "my-ring"})
        saved = next_of(ws, "saved")
        assert saved["name"] == "my-ring"
        assert client.get("/api/runs").json() == {"runs": ["my-ring"]}
        ws.send_json({"type": "load", "name": "my-ring"})
        assert next_of(ws, "loaded")["name"] == "my-ring"
        next_of(ws, "frame", where=lambda m: m["step"] == 2)


@pytest.mark.parametrize("message, text", [
    ({"type": "settings", "settings": {**SMALL, "lr_d": -1}}, "lr_d must lie in"),
    ({"type": "settings", "settings": {**SMALL, "target": "moon"}}, "target must be one of"),
    ({"type": "step", "n": 0}, "step count must be"),
    ({"type": "jump"}, "unknown command 'jump'"),
    ({"type": "load", "name": "../etc"}, "no saved run"),
    ({"type": "save", "name": "a/b"}, "a run name uses"),
    ({"no": "type"}, "a command is an object with a 'type'"),
])
def test_bad_values_get_a_message_and_the_session_lives_on(client, message, text):
    with client.websocket_connect("/ws") as ws:
        next_of(ws, "hello")
        ws.send_json(message)
        assert text in next_of(ws, "error")["message"]
        ws.send_json({"type": "step", "n": 1})
        next_of(ws, "frame", where=lambda m: m["step"] == 1)


def test_job_cap(client):
    with client.websocket_connect("/ws") as first:
        next_of(first, "hello")
        with client.websocket_connect("/ws") as second:
            assert "jobs already" in second.receive_json()["message"]


@pytest.mark.parametrize("args, text", [(["--port", "0"], "--port must be in 1..65535"),
                                        (["--max-jobs", "0"], "--max-jobs must be at least 1")])
def test_cli_bad_options(monkeypatch, capsys, args, text):
    from tests.conftest import run_cli as run

    code, _, err = run(monkeypatch, capsys, "playground", *args)
    assert code == 2 and text in err


@pytest.mark.parametrize("origin", ["http://evil.example", "http://testserver.evil.example", "http://localhost:9999",
                                    "null", "file://"])
def test_a_page_of_another_origin_is_refused(client, caplog, origin):
    """Cross-site WebSocket hijacking: any page in the user's browser could otherwise start jobs and save runs."""
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws", headers={"origin": origin}) as ws:
            ws.receive_json()
    assert refused.value.code == 1008
    assert f"refused a WebSocket from origin {origin}" in caplog.text


@pytest.mark.parametrize("origin, host", [("http://testserver", "testserver"), (None, "testserver"),
                                          ("http://localhost:8765", "127.0.0.1:8765"), ("http://[::1]:8765", "localhost:8765")])
def test_the_pages_own_origin_and_loopback_names_connect(client, origin, host):
    from gankit.playground.server import origin_allowed

    assert origin_allowed(origin, host)
    assert not origin_allowed("http://localhost:8766", "127.0.0.1:8765")
    if host == "testserver":
        with client.websocket_connect("/ws", headers={"origin": origin} if origin else {}) as ws:
            assert next_of(ws, "hello")["type"] == "hello"


def test_cli_busy_port_is_one_line(monkeypatch, capsys):
    import socket

    from tests.conftest import run_cli as run

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(monkeypatch, capsys, "playground", "--port", port)
    assert code == 2 and err == f"error: cannot listen on 127.0.0.1:{port}: the port is in use (another playground?); " \
                                f"try another --port, e.g. --port {port + 1}\n"
    assert "open http" not in out
