class StoreError(Exception):
    pass


def save(db, row):
    try:
        db.insert(row)
    except Exception as exc:
        raise StoreError("insert failed") from exc


def save_again(db, row):
    try:
        db.insert(row)
    except Exception:
        db.rollback()
        raise
