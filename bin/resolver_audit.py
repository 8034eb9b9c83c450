#!/usr/bin/env python3
"""splunkd entry point of the resolver_audit modular input; the logic lives in lib/audit_trail."""

import os
import sys


def _main() -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
    from audit_trail.modinput import main
    from audit_trail.sources.resolver import spec

    return main(spec())


if __name__ == "__main__":
    sys.exit(_main())
