def save(stream, data):
    try:
        stream.write(data)
        stream.flush()
    except OSError:  # expect: AUD007
        pass
