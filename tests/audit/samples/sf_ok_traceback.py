import sys
import traceback


def main(run):
    try:
        run()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
