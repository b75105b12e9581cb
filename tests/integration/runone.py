"""Runs one integration test function in this process: runone.py MODULE FUNCTION.

Exit status 0 when it returns, 1 when it raises (the traceback is printed),
77 when it raises harness.Skip (the reason is printed).
The harness's cleanup (processes, temporary folders) runs either way.
"""
import importlib
import os
import signal
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SKIPPED = 77


def on_term(signum, frame):
    raise SystemExit("terminated (timeout)")


def main():
    signal.signal(signal.SIGTERM, on_term)
    module = importlib.import_module(sys.argv[1])
    fn = getattr(module, sys.argv[2])
    try:
        fn()
        return 0
    except harness.Skip as e:
        print("SKIP: %s" % e)
        return SKIPPED
    except BaseException:
        traceback.print_exc()
        harness.dump_logs()
        return 1
    finally:
        harness.cleanup()


if __name__ == "__main__":
    sys.exit(main())
