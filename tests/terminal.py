"""Run kmimg as a process with stderr on a pseudo-terminal (or a pipe), for the tests of what a
person sees: bars and tables on a terminal, silence in pipes."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios


def run_kmimg(*args: str, stderr_tty: bool = True, columns: int = 400) -> tuple[int, str]:
    """``python -m kmimg ARGS`` with stdout discarded; returns (exit code, stderr text)."""
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    command = [sys.executable, "-m", "kmimg", *args]
    if not stderr_tty:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        return done.returncode, done.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    with subprocess.Popen(command, stderr=slave, stdout=subprocess.DEVNULL, env=env) as process:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait()
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")
