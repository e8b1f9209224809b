"""Waitress on 127.0.0.1 in a background thread, with a shutdown waitress itself lacks."""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.server import create_server

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never anything else: the workstation serves only itself
THREADS = 8


class LocalServer:
    def __init__(self, wsgi_app: Any, port: int = 0) -> None:
        # port 0: the OS picks a free port; effective_port tells us which one it chose.
        self._server = create_server(wsgi_app, host=HOST, port=port, threads=THREADS, ident="CXRWorkstation")
        self.port: int = self._server.effective_port
        self.url = f"http://{HOST}:{self.port}/"
        self._thread: threading.Thread | None = None
        self._closing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the sockets under the running loop makes select() complain; expected then.
            if not self._closing:
                raise

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting connections, let in-flight requests finish, stop the loop."""
        self._closing = True
        server_map = self._server._map
        # waitress logs "unhandled close event" for the listener we close by hand; not news.
        logging.getLogger("waitress").setLevel(logging.ERROR)
        # Closing every channel in the loop's socket map (listener, trigger, open connections)
        # empties the map, which ends asyncore's loop in the server thread.
        while server_map:
            for channel in list(server_map.values()):
                try:
                    channel.handle_close()
                except Exception:
                    log.debug("Error closing %r", channel, exc_info=True)
                    server_map.pop(getattr(channel, "_fileno", None), None)
        self._server.task_dispatcher.shutdown(timeout=timeout)
        if self._thread is not None:
            self._thread.join(timeout)
