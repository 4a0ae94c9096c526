"""The playground's web server (Starlette): one page, static files, and one WebSocket per browser tab.

Each WebSocket connection owns one PlaygroundJob (one training job per tab); the server caps how
many run at once. The page sends JSON commands; the server answers errors and saves at once and
streams the job's newest frame a few times per second — a slow browser simply receives fewer
frames, memory never grows.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from gankit.errors import GankitError
from gankit.playground.job import RECIPE_DEFAULTS, RECIPES, TARGETS, VIEW_BOXES, PlaygroundJob, Settings

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
CLOSE_FORBIDDEN_ORIGIN = 1008  # WebSocket close code "policy violation"
log = logging.getLogger("gankit.playground")


def _host_port(netloc: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{netloc}")
    return (parts.hostname or "").lower(), parts.port or default_port


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """A WebSocket may connect from the page's own origin (the Host it was served from, or a loopback name for
    the same port) or from no browser at all (no Origin header); any other site's page is refused, so a web
    page open in the user's browser cannot drive the playground (cross-site WebSocket hijacking)."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    default = 443 if parts.scheme == "https" else 80
    origin_host, origin_port = _host_port(parts.netloc, default)
    served_host, served_port = _host_port(host or "", default)
    if (origin_host, origin_port) == (served_host, served_port):
        return True
    return origin_host in LOOPBACK and served_host in LOOPBACK and origin_port == served_port


@dataclass
class ServerOptions:
    runs_dir: Path = Path("runs/playground")
    max_jobs: int = 4
    frames_per_second: float = 8.0

    def __post_init__(self) -> None:
        self.runs_dir = Path(self.runs_dir)


def hello_message() -> dict:
    """What the page needs to build its controls: choices, defaults, ranges, view boxes."""
    return {"type": "hello", "targets": list(TARGETS), "recipes": list(RECIPES), "recipe_defaults": RECIPE_DEFAULTS,
            "defaults": Settings().as_dict(), "ranges": Settings.RANGES, "views": VIEW_BOXES}


def create_app(options: ServerOptions | None = None) -> Starlette:
    """The ASGI app; `options` sets where runs are saved and how many jobs may run at once."""
    options = options or ServerOptions()
    jobs: set[PlaygroundJob] = set()

    async def index(request):
        return FileResponse(STATIC / "index.html")

    async def list_runs(request):
        runs = sorted(p.name for p in options.runs_dir.glob("*") if (p / "checkpoints").is_dir()) if options.runs_dir.is_dir() else []
        return JSONResponse({"runs": runs})

    async def session(ws: WebSocket) -> None:
        origin = ws.headers.get("origin")
        if not origin_allowed(origin, ws.headers.get("host")):
            log.warning("refused a WebSocket from origin %s (only this page's own origin may connect)", origin)
            await ws.close(code=CLOSE_FORBIDDEN_ORIGIN)
            return
        await ws.accept()
        if len(jobs) >= options.max_jobs:
            await ws.send_json({"type": "error", "message": f"the server runs {options.max_jobs} jobs already; "
                                                             "close another tab or restart with a larger --max-jobs"})
            await ws.close()
            return
        job = await asyncio.to_thread(PlaygroundJob)
        jobs.add(job)
        await ws.send_json(hello_message())
        sender = asyncio.create_task(stream_frames(ws, job, 1.0 / options.frames_per_second))
        try:
            while True:
                try:
                    message = json.loads(await ws.receive_text())
                    reply = await asyncio.to_thread(handle, job, message, options)
                except (GankitError, ValueError, TypeError, KeyError) as err:
                    reply = {"type": "error", "message": str(err) if isinstance(err, GankitError) else f"bad message: {err}"}
                if reply:
                    await ws.send_json(reply)
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            jobs.discard(job)
            await asyncio.to_thread(job.close)

    return Starlette(routes=[
        Route("/", index),
        Route("/api/runs", list_runs),
        WebSocketRoute("/ws", session),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])


async def stream_frames(ws: WebSocket, job: PlaygroundJob, period: float) -> None:
    """Send the job's newest frame whenever it changed, at most once per `period` seconds."""
    sent = -1
    try:
        while True:
            version = job.frame_version
            if version != sent and job.frame is not None:
                await ws.send_json({"type": "frame", **job.frame})  # waits for a slow client: later frames are skipped
                sent = version
            await asyncio.sleep(period)
    except (WebSocketDisconnect, RuntimeError):
        return


def handle(job: PlaygroundJob, message: dict, options: ServerOptions) -> dict | None:
    """Apply one command from the page; returns a reply message or None."""
    if not isinstance(message, dict) or "type" not in message:
        raise GankitError("a command is an object with a 'type'")
    kind = message["type"]
    if kind == "settings":  # new settings restart the job, paused
        job.reset(Settings.from_dict(message.get("settings", {})))
    elif kind == "start":
        job.start()
    elif kind == "pause":
        job.pause()
    elif kind == "step":
        job.step(message.get("n", 1))
    elif kind == "reset":
        job.reset()
    elif kind == "save":
        path = job.save(options.runs_dir, message.get("name") or None)
        return {"type": "saved", "path": str(path), "name": path.name}
    elif kind == "load":
        name = str(message.get("name", ""))
        run = options.runs_dir / name
        if not name or "/" in name or name.startswith(".") or not (run / "checkpoints").is_dir():
            raise GankitError(f"no saved run {name!r} in {options.runs_dir}")
        job.load(run)
        return {"type": "loaded", "name": name}
    else:
        raise GankitError(f"unknown command {kind!r}; valid: settings, start, pause, step, reset, save, load")
    return None
