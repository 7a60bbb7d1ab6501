"""syssense stress target: a fixed, deterministic mix of file IO and computation.

Run under normal conditions and under CPU / memory / IO stress (the built-in ``stress``
scenario set) to see how load changes a program's system calls and their timing.
Standard library only, so it runs with any Python 3 (``python3 -I -S stress_target.py``).

Each round: write a 64 KiB block to ``target-data.bin`` and fsync every 4th write, then
read the file back from the start, hash it, and do a little arithmetic. The file is
removed at the end; nothing outside the current directory is touched.
"""

import hashlib
import os
import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 24
BLOCK = bytes(range(256)) * 256  # 64 KiB, deterministic
PATH = "target-data.bin"


def compute(n: int) -> int:
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i * i) % 1_000_003
    return acc


def main() -> int:
    fd = os.open(PATH, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    digest = hashlib.sha256()
    acc = 0
    try:
        for r in range(ROUNDS):
            os.write(fd, BLOCK)
            if r % 4 == 3:
                os.fsync(fd)
            acc = (acc + compute(20000)) % 1_000_003
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            digest.update(chunk)
    finally:
        os.close(fd)
        os.unlink(PATH)
    os.write(1, f"{digest.hexdigest()[:16]} {acc}\n".encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
