"""What the test scripts share: one line per check, and the first failure ends the run."""
import sys


def check(name, got, expected):
    if got != expected:
        print(f"FAIL {name}: got {got!r}, expected {expected!r}")
        sys.exit(1)
    print(f"ok {name}")
