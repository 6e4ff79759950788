"""``em2exm view RUN_DIR``: serve a run directory over HTTP and open it in Neuroglancer, print the URL.

The run directory is served under ``/data/`` with CORS headers (so any Neuroglancer, also a hosted one,
can read it); the viewer is the ``neuroglancer`` package's own server and bundled client.  The saved state is
arranged to open on the ExM image, its ground truth and the best experiment's instances (:mod:`em2exm.ngstate`).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from em2exm.errors import UserError
from em2exm.ngstate import arrange, is_maps
from em2exm.ranking import best_experiment
from em2exm.report import read_metrics

STATE_FILE = "report/neuroglancer_state.json"
DATA = "{DATA}"
"""Where the saved state's data URLs begin (the run directory, served here under /data/)."""


class _Handler(SimpleHTTPRequestHandler):
    """Serves the run at /data/, with CORS and no caching."""

    run_dir: Path
    served: list[str]

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        self.served.append(clean)
        return str(self.run_dir / clean.removeprefix("/data/").lstrip("/"))

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server naming
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def serve(run_dir: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving ``run_dir`` in a background thread; returns the server (``server_address`` has the port,
    ``RequestHandlerClass.served`` the paths requested so far)."""
    root = Path(run_dir).resolve()
    if not root.is_dir():
        raise UserError(f"run directory {root} does not exist", "pass the run's store directory, e.g. runs/demo")
    handler = type("Handler", (_Handler,), {"run_dir": root, "served": []})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def map_channels(run_dir: str, state: dict) -> dict[str, list[str]]:
    """The channel names of every map layer of ``state``, by layer name, as its zarr.json in the run records them."""
    found = {}
    for layer in filter(is_maps, state["layers"]):
        relative = layer["source"].removeprefix("zarr3://").removeprefix(DATA).strip("/")
        try:
            meta = json.loads((Path(run_dir) / relative / "zarr.json").read_text())
            names = meta["attributes"]["em2exm"]["channels"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            found[layer["name"]] = names
    return found


def load_state(server: ThreadingHTTPServer, run_dir: str) -> dict:
    """The run's saved viewer state, arranged to show the best experiment (:func:`em2exm.ngstate.arrange`), with
    its data URLs pointing at ``server``."""
    host, port = server.server_address[:2]
    assert isinstance(host, str)  # an AF_INET server's bound address (getsockname) names its host as a str
    state_path = Path(run_dir) / STATE_FILE
    if not state_path.exists():
        raise UserError(f"{state_path} does not exist", "run the visualize stage for this run first")
    state = json.loads(state_path.read_text())
    state = arrange(state, best_experiment(read_metrics(run_dir)), map_channels(run_dir, state))
    return json.loads(json.dumps(state).replace(DATA, f"http://{host}:{port}/data"))


def open_viewer(run_dir: str, host: str = "127.0.0.1", port: int = 0, viewer_port: int = 0):
    """Serve ``run_dir`` and start a Neuroglancer viewer showing it; returns (data server, viewer)."""
    try:
        import neuroglancer
    except ImportError as exc:
        raise UserError("the neuroglancer package is not installed", "pip install 'em2exm[view]'") from exc

    server = serve(run_dir, host, port)
    neuroglancer.set_server_bind_address(host, viewer_port)
    viewer = neuroglancer.Viewer()
    viewer.set_state(neuroglancer.ViewerState(load_state(server, run_dir)))
    return server, viewer


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="em2exm view", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run's local store directory (e.g. runs/demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="data server port (default: any free port)")
    parser.add_argument("--viewer-port", type=int, default=0, help="Neuroglancer server port (default: any free port)")
    args = parser.parse_args(argv)
    server, viewer = open_viewer(args.run_dir, args.host, args.port, args.viewer_port)
    print(viewer.get_viewer_url(), flush=True)
    print("serving; press Ctrl+C to stop", flush=True)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
        os._exit(0)
