def ints(values):
    out = []
    for value in values:
        try:
            out.append(int(value))
        except ValueError:
            continue
    return out
