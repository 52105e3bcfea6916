#!/usr/bin/env python3
"""A streaming HTTP/1.1 sink and source for bench/gateway.sh's 1 GiB figures.

Listens on 127.0.0.1:$PORT. `GET /bytes/N` answers N zero bytes (Content-Length N), sent
from a sparse file with sendfile(2), as a static file server would. Any other request:
reads and discards the body (Content-Length or chunked) in 1 MiB reads without keeping
it, then answers 200 "bytes=<n>". Keep-alive, one thread per connection.
tests/tend_backend's /echo keeps the whole body in memory and stops at 64 MiB, so it
cannot take a 1 GiB body.
"""
import os
import socket
import tempfile
import threading

CHUNK = 1 << 20


def drain(f, n, buf):
    view = memoryview(buf)
    while n > 0:
        got = f.readinto(view[:min(n, CHUNK)])
        if not got:
            raise EOFError
        n -= got


SOURCES = {}
SOURCES_LOCK = threading.Lock()


def source_of(n):
    """A temporary file of N zero bytes, written once (so its pages are in the page cache
    and each answer is served from memory, as a static file server's hot file is)."""
    with SOURCES_LOCK:
        if n not in SOURCES:
            f = tempfile.TemporaryFile()
            block = bytes(CHUNK)
            for _ in range(n // CHUNK):
                f.write(block)
            f.write(bytes(n % CHUNK))
            f.flush()
            SOURCES[n] = f
        return SOURCES[n]


def send_zeros(conn, n, close):
    """The answer to GET /bytes/N: N zero bytes from a cached file, with sendfile(2)."""
    f = source_of(n)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 b"Content-Length: %d\r\n%s\r\n" % (n, b"Connection: close\r\n" if close else b""))
    sent = 0
    while sent < n:
        k = os.sendfile(conn.fileno(), f.fileno(), sent, n - sent)
        if k == 0:
            raise EOFError
        sent += k


def serve(conn):
    buf = bytearray(CHUNK)
    f = conn.makefile("rb", buffering=CHUNK)
    try:
        while True:
            line = f.readline(65536)
            if not line:
                return
            if not line.strip():
                continue
            method, _, rest = line.partition(b" ")
            target = rest.partition(b" ")[0]
            headers = {}
            while True:
                h = f.readline(65536)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            close = headers.get("connection", "").lower() == "close"
            if method == b"GET" and target.startswith(b"/bytes/"):
                send_zeros(conn, int(target[len(b"/bytes/"):]), close)
                if close:
                    return
                continue
            total = 0
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size = int(f.readline(65536).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while f.readline(65536) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    drain(f, size, buf)
                    total += size
                    f.readline(65536)
            else:
                total = int(headers.get("content-length", "0"))
                drain(f, total, buf)
            body = b"bytes=%d" % total
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
                         % (len(body), b"Connection: close\r\n" if close else b"", body))
            if close:
                return
    except (EOFError, OSError, ValueError):
        return
    finally:
        conn.close()


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    s.listen(128)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
