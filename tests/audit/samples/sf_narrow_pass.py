import os


def remove(path):
    try:
        os.remove(path)
    # expect-next: AUD007
    except FileNotFoundError:
        pass


def remove_commented(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        # Already gone: removal is idempotent.
        pass
