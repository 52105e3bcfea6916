#!/usr/bin/env python3
"""portwait.py FIRST COUNT TIMEOUT: waits until 127.0.0.1:FIRST .. FIRST+COUNT-1 all accept a
TCP connection; prints the wall-clock time (seconds since the epoch) when the last one did,
or exits 1 after TIMEOUT seconds."""
import socket
import sys
import time

first, count, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
pending = set(range(first, first + count))
while pending:
    for port in list(pending):
        s = socket.socket()
        s.settimeout(0.2)
        try:
            s.connect(("127.0.0.1", port))
            pending.discard(port)
        except OSError:
            pass
        finally:
            s.close()
    if not pending:
        break
    if time.monotonic() - t0 > limit:
        print(f"{len(pending)} ports still closed", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.002)
print(f"{time.time():.6f}")
