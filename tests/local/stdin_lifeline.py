"""Ends a loopback stand-in together with the test that started it.

A Rust test stops its stand-ins on drop, which a panic runs but a killed test process does not.
Started with `--exit-with-stdin`, a stand-in reads its standard input, a pipe the test holds
open and never writes to, and exits when it closes: when the test ends, however it ends.
"""

import os
import sys
import threading


def add_argument(parser):
    """Adds `--exit-with-stdin` to an argparse parser."""
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="exit when standard input closes (the starting test holds it open)",
    )


def exit_when_stdin_closes():
    """Exits the process, from a daemon thread, once standard input reaches its end."""

    def wait():
        while sys.stdin.buffer.read(4096):
            pass
        os._exit(0)

    threading.Thread(target=wait, daemon=True).start()
