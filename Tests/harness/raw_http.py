"""HTTP/1.1 over a plain socket, for requests no client library would send as written (two
Content-Lengths, a target with `..` or `%2F`, a head without a body): the caller's bytes go out
exactly as given, and the answer is parsed here (status, every header line, the body
de-chunked). The http.client helpers are in harness/probes.py."""

import socket
import time
from typing import NamedTuple


class Answer(NamedTuple):
    status: int
    headers: dict  # lowercase name -> [every value, in the order sent]
    body: bytes
    head_at: float | None  # seconds from sending to the head's arrival

    def getheader(self, name, default=None):
        """As http.client's: the values of a header joined by ", " (checks.assert_json_error
        reads an Answer like a response)."""
        values = self.headers.get(name.lower())
        return ", ".join(values) if values else default


def request_bytes(method: str, target: bytes, headers: dict, body: bytes = b"") -> bytes:
    """`method target HTTP/1.1` with Host and Connection: close, then `headers` as given; a POST
    gets its Content-Type and Content-Length."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    if method == "POST":
        lines += [b"Content-Type: application/json", f"Content-Length: {len(body)}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def send(port: int, data: bytes, within: float = 10.0, until_close: bool = False) -> Answer:
    """Sends `data` as written to 127.0.0.1:port and reads the answer: to the end of its body
    (Content-Length or the last chunk), or with `until_close` everything until the server closes
    (so that bytes after the body show). The whole answer must arrive `within` seconds (a trickle
    fails instead of hanging the suite)."""
    started = time.monotonic()
    deadline = started + within
    received, head_at = b"", None
    with socket.create_connection(("127.0.0.1", port), timeout=within) as connection:
        connection.sendall(data)
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no complete answer to {data[:80]!r} within {within} s: {received[:200]!r}"
            connection.settimeout(remaining)
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received:
                head_at = head_at or time.monotonic() - started
                if not until_close and body_complete(received):
                    break
    status, headers, body = parse(received)
    return Answer(status, headers, body, head_at)


def body_complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    if received.endswith(b"\r\n0\r\n\r\n"):
        return True
    length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(length) and len(body) >= int(length[0].split(b":")[1])


def parse(received: bytes) -> tuple:
    """(status, {lowercase name: [values]}, body de-chunked) of an HTTP/1.x answer."""
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1."), received[:300]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        body = dechunk(body)
    return int(status_line.split()[1]), headers, body


def dechunk(payload: bytes) -> bytes:
    out = b""
    while payload:
        size_line, _, payload = payload.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, payload = out + payload[:size], payload[size + 2 :]
    return out


def request(port: int, method: str, target: bytes, headers: dict, body: bytes = b"", within: float = 30.0) -> Answer:
    """`request_bytes` sent as written, the answer read until the server closes."""
    return send(port, request_bytes(method, target, headers, body), within=within, until_close=True)
