"""A TCP load balancer for one test, standing in for the one in front of a fleet's collectors: each
new connection goes to the next backend in turn that accepts it, so a dead backend is skipped and its
clients' next connection lands on a live one. Bytes are relayed untouched (OTLP/HTTP, keep-alive)."""

from __future__ import annotations

import itertools
import socket
import threading


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self._turn = itertools.cycle(range(len(backends)))
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = [0] * len(backends)
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="test-balancer").start()

    def _backend(self) -> socket.socket | None:
        for _ in range(len(self.backends)):
            i = next(self._turn)
            try:
                conn = socket.create_connection(self.backends[i], timeout=1)
            except OSError:
                continue
            conn.settimeout(None)
            self.connections[i] += 1
            return conn
        return None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = self._backend()
            if upstream is None:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._server.close()
