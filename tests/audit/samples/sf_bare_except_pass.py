def load(path):
    try:
        return open(path).read()
    except:  # expect: AUD002
        pass
