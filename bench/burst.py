#!/usr/bin/env python3
"""A burst of concurrent HTTP/1.1 requests, for bench/gateway.sh.

    burst.py PORT HOST N [PATH]

Opens N connections to 127.0.0.1:PORT at once (asyncio), sends one
"GET PATH HTTP/1.1" with "Host: HOST" and "Connection: close" on each, and reads each
answer up to the close. Prints one line:

    answered=<n with HTTP 200> total=<N> last_ms=<time to the last answer> p50_ms=<median>
    other=<status or error:count,...>

Times are from just before the first connection is opened. Exits 1 unless every request
got a 200.
"""

import asyncio
import resource
import sys
import time
from collections import Counter


async def one(port, host, path, t0):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        data = await reader.read()  # up to the close
        elapsed = time.perf_counter() - t0
        writer.close()
        parts = data.split(b" ", 2)
        status = parts[1].decode() if len(parts) > 1 and parts[0].startswith(b"HTTP/") else "?"
        return status, elapsed
    except Exception as e:  # a refused or reset connection counts as an error
        return f"error {type(e).__name__}", time.perf_counter() - t0


async def main():
    port, host, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(port, host, path, t0) for _ in range(n)))
    ok = sorted(t for s, t in results if s == "200")
    other = Counter(s for s, _ in results if s != "200")
    last = max(t for _, t in results)
    p50 = ok[len(ok) // 2] if ok else float("nan")
    other_text = ",".join(f"{k}:{v}" for k, v in sorted(other.items())) or "none"
    print(
        f"answered={len(ok)} total={n} last_ms={last * 1000:.1f} p50_ms={p50 * 1000:.1f} "
        f"other={other_text.replace(' ', '_')}"
    )
    return 0 if len(ok) == n else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
