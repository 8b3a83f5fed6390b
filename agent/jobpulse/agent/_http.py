"""One HTTP/1.1 keep-alive connection that posts a body and reads the answer: what
:class:`~jobpulse.agent.HttpSender` needs and nothing more.

Not http.client: its answer goes through the email package's header parser, which cost
each export more CPU than encoding the batch (0.6 ms of a 1.7 ms export at a 3-disk job's
cadence; ``make bench-agent``). Here the request goes out in one write and only the three
header fields that frame the answer are read: Content-Length, Transfer-Encoding and
Connection (RFC 9112, sections 6 and 9).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

# An OTLP answer is an empty or a partial-success message: anything much larger is not one.
_BODY_MAX = 1 << 20
_LINE_MAX = 8192
_FIELDS_MAX = 100


class ConnectionLost(ConnectionError):
    """The server closed the connection before it answered: an idle keep-alive connection
    it had already let go of. Sending again on a new connection is safe."""


class BadAnswer(OSError):
    """What came back is not an HTTP/1.x answer we can frame."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Http11Connection:
    """Not thread-safe for requests (one at a time, as exports are), but :meth:`close` may
    come from another thread and cuts a request in flight."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self._tls = tls
        self._sock: socket.socket | None = None
        self._file = None

    def post(self, head: bytes, body: bytes, timeout: float) -> Answer:
        """Send ``head`` (request line and header fields, each ending in CRLF, without
        Content-Length) and ``body``; raise OSError (ConnectionLost, BadAnswer, TimeoutError,
        ConnectionRefusedError, ...) when no whole answer came. The connection is closed after
        any error and after an answer that closes it."""
        try:
            # Locals: close() from another thread clears the attributes, never these.
            sock, file = self._sock, self._file
            if sock is None:
                sock, file = self._open(timeout)
            else:
                sock.settimeout(timeout)
            sock.sendall(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
            answer, keep = _read_answer(file)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return answer

    def close(self) -> None:
        sock, file = self._sock, self._file
        self._sock = self._file = None
        if sock is None:
            return
        try:
            # Wakes a recv blocked in another thread, which close() alone does not on Linux.
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        file.close()
        sock.close()

    def _open(self, timeout: float):
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._sock, self._file = sock, sock.makefile("rb")
        return self._sock, self._file


def _line(file, what: str) -> bytes:
    line = file.readline(_LINE_MAX + 1)
    if len(line) > _LINE_MAX:
        raise BadAnswer(f"{what} longer than {_LINE_MAX} bytes")
    return line


def _read_answer(file) -> tuple[Answer, bool]:
    while True:
        line = _line(file, "status line")
        if not line:
            raise ConnectionLost("the server closed the connection without answering")
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP/1.x answer: {line[:40]!r}")
        status = int(code)
        length, chunked, keep = None, False, version != b"HTTP/1.0"
        for _ in range(_FIELDS_MAX + 1):
            field = _line(file, "header field")
            if not field:
                raise BadAnswer("the answer ended inside its header")
            if field in (b"\r\n", b"\n"):
                break
            name, _, value = field.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                if not value.isdigit():
                    raise BadAnswer(f"invalid Content-Length {value[:20]!r}")
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.rsplit(b",", 1)[-1].strip() == b"chunked"
            elif name == b"connection":
                tokens = {t.strip() for t in value.split(b",")}
                keep = b"close" not in tokens and (keep or b"keep-alive" in tokens)
        else:
            raise BadAnswer(f"more than {_FIELDS_MAX} header fields")
        if 100 <= status < 200:
            continue  # an interim answer (RFC 9110, 15.2): the final one follows
        if status in (204, 304):
            return Answer(status, b""), keep
        if chunked:
            return Answer(status, _chunked(file)), keep
        if length is not None:
            return Answer(status, _exact(file, length)), keep
        return Answer(status, _exact(file, None)), False  # framed by the end of the connection


def _exact(file, length: int | None) -> bytes:
    if length is not None and length > _BODY_MAX:
        raise BadAnswer(f"an answer of {length} bytes is not an OTLP answer")
    data = file.read(_BODY_MAX + 1 if length is None else length)
    if length is None and len(data) > _BODY_MAX:
        raise BadAnswer(f"an answer over {_BODY_MAX} bytes is not an OTLP answer")
    if length is not None and len(data) < length:
        raise BadAnswer(f"the answer ended after {len(data)} of {length} bytes")
    return data


def _chunked(file) -> bytes:
    parts, size = [], 0
    while True:
        line = _line(file, "chunk size")
        try:
            n = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadAnswer(f"invalid chunk size {line[:20]!r}") from None
        if n < 0:
            raise BadAnswer(f"invalid chunk size {line[:20]!r}")
        if n == 0:
            while _line(file, "trailer field") not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        size += n
        if size > _BODY_MAX:
            raise BadAnswer(f"an answer over {_BODY_MAX} bytes is not an OTLP answer")
        parts.append(_exact(file, n))
        if file.read(2) != b"\r\n":
            raise BadAnswer("a chunk did not end in CRLF")
