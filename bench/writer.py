#!/usr/bin/env python3
"""An app that writes numbered lines to stdout at a fixed rate, for the logging benchmark.

    writer.py RATE_MB_PER_S TOTAL_MB RESULT_FILE [TAG]

Writes TOTAL_MB mebibytes of 100-byte lines (counted, so a lost line shows in the log's
line count) in 64 KiB writes paced to RATE MiB/s (0: as fast as it can), then writes "<elapsed seconds>
<lines>" to RESULT_FILE and sleeps until killed (so a manager does not restart it). The
elapsed time is the app's own: when the reader of its stdout is slower than the rate, the
app is held in write() and its elapsed time grows. That growth is the slowdown."""
import os
import sys
import time

rate = float(sys.argv[1]) * 1024 * 1024
total = int(float(sys.argv[2]) * 1024 * 1024)
result = sys.argv[3]
LINE = 100
lines_per_chunk = 65536 // LINE
n = 0
written = 0
out = sys.stdout.fileno()
start = time.monotonic()
chunk = "".join(f"{i:012d} " + "x" * (LINE - 14) + "\n" for i in range(lines_per_chunk)).encode()
while written < total:
    n += lines_per_chunk
    view = memoryview(chunk)
    while view:
        k = os.write(out, view)
        view = view[k:]
    written += len(chunk)
    if rate > 0:
        ahead = start + written / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
elapsed = time.monotonic() - start
with open(result + ".tmp", "w") as f:
    f.write(f"{elapsed:.3f} {n}\n")
os.rename(result + ".tmp", result)
while True:
    time.sleep(3600)
