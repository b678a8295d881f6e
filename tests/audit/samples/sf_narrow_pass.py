import os


def remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def remove_commented(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        # Already gone: removal is idempotent.
        pass
