import json


def update_history(filename, entry):
    try:
        with open(filename) as handle:
            history = json.load(handle)
    # expect-next: AUD007
    except (FileNotFoundError, json.JSONDecodeError):
        history = []
    history.append(entry)
    with open(filename, "w") as handle:
        json.dump(history, handle)


def load_or_start(path, entry):
    try:
        history = json.loads(path.read_text())
    # expect-next: AUD007
    except ValueError:
        history = []
    history.append(entry)
    path.write_text(json.dumps(history))


def first_run(filename, entry):
    try:
        with open(filename) as handle:
            history = json.load(handle)
    except FileNotFoundError:
        history = []
    history.append(entry)
    with open(filename, "w") as handle:
        json.dump(history, handle)


def append_only(filename, entry):
    try:
        with open(filename) as handle:
            count = len(handle.readlines())
    except (FileNotFoundError, UnicodeDecodeError):
        count = 0
    with open(filename, "a") as handle:
        handle.write(f"{count} {entry}\n")


def read_only(filename):
    try:
        with open(filename) as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        settings = {}
    return settings
