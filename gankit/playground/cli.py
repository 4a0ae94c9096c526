"""`gankit playground`: serve the page on the loopback interface and print its address."""
from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError


def check_port_free(host: str, port: int) -> None:
    """Bind `host:port` once, as the server will (a busy port is one line, not uvicorn's log and exit 1)."""
    import errno
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a closed server's port is free
            probe.bind((host, port))
    except OSError as err:
        reason = "the port is in use (another playground?)" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        raise GankitError(f"cannot listen on {host}:{port}: {reason}; try another --port, e.g. --port {port + 1 if port < 65535 else 8765}") from None


def playground(
    port: int = typer.Option(8765, "--port", help="TCP port"),
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind (loopback by default; 0.0.0.0 exposes it to the network)"),
    runs_dir: Path = typer.Option(Path("runs/playground"), "--runs-dir", help="where 'save as run' writes and 'load run' reads"),
    max_jobs: int = typer.Option(4, "--max-jobs", help="most training jobs (browser tabs) at once"),
) -> None:
    """Watch a toy GAN learn in the browser: live samples, D's view, gradients, losses and modes."""
    try:
        import uvicorn

        from gankit.playground.server import ServerOptions, create_app
    except ImportError:
        raise GankitError("the playground needs its web server: pip install 'gankit[playground]'") from None
    if not 1 <= port <= 65535:
        raise GankitError(f"--port must be in 1..65535, got {port}")
    if max_jobs < 1:
        raise GankitError("--max-jobs must be at least 1")
    from gankit.runs.outputs import check_out_dir

    check_out_dir(runs_dir, "--runs-dir")
    check_port_free(host, port)
    app = create_app(ServerOptions(runs_dir=runs_dir, max_jobs=max_jobs))
    typer.echo(f"gankit playground: open http://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:{port}/  (Ctrl-C stops)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: bound to {host}: anyone who can reach this machine can use the playground")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    except OSError as err:
        raise GankitError(f"cannot listen on {host}:{port}: {err.strerror or err}; try another --port") from None
