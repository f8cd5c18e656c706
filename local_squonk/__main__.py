"""``python -m local_squonk serve [--host 127.0.0.1] [--port 8765]``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from werkzeug.serving import make_server

from .config import Settings
from .server import API_PREFIX, Services, create_app

logger = logging.getLogger(__name__)


def serve(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then stop running jobs and callback delivery.

    :param host: the address to listen on
    :param port: the port to listen on
    """
    settings = Settings.from_env()
    app = create_app(settings)
    services: Services = app.extensions["local_squonk"]
    server = make_server(host, port, app, threaded=True)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("Signal %d: shutting down", signum)
        # shutdown() waits for serve_forever() to return, so it cannot run here.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("Listening on http://%s:%d%s", host, server.server_port, API_PREFIX)
    try:
        server.serve_forever()
    finally:
        services.stop()
        services.store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_squonk")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the Data Manager stand-in")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8765)
    serve_parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per request is already in requests.jsonl.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
