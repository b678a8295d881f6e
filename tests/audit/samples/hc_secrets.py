API_KEY = "sk-proj-3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"  # expect: AUD105 masked: sk-p… (40 chars)


def connect(db):
    return db.connect(user="app", password="hunter2!")  # expect: AUD105 masked: hunt… (8 chars)


GITHUB = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # expect: AUD105 masked: ghp_… (40 chars)
