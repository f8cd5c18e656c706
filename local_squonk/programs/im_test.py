"""Stand-in for ``/code/im_test.py``: jobs that sleep or crash, for testing the runner."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from .events import emit_event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="local_squonk test jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    sleep = commands.add_parser("sleep")
    sleep.add_argument("--seconds", type=float, default=60)
    sleep.add_argument("--child", action="store_true")
    crash = commands.add_parser("crash")
    crash.add_argument("--exit-code", type=int, default=3)
    crash.add_argument("--lines", type=int, default=30)
    args = parser.parse_args(argv)

    if args.command == "sleep":
        emit_event(f"pid={os.getpid()}")
        if args.child:
            # A grandchild of the server checks that the whole process group is stopped.
            child = subprocess.Popen(
                [sys.executable, "-c", f"import time; time.sleep({args.seconds})"]
            )
            emit_event(f"child_pid={child.pid}")
        time.sleep(args.seconds)
        emit_event(f"Slept {args.seconds:g} s")
        return 0

    emit_event("About to crash", "WARNING")
    for number in range(1, args.lines + 1):
        print(f"crash line {number}", file=sys.stderr)
    sys.stderr.flush()
    return args.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
