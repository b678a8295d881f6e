def ints(values):
    out = []
    for value in values:
        try:
            out.append(int(value))
        # expect-next: AUD007
        except ValueError:
            continue
    return out
