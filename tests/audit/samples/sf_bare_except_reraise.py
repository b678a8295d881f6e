def transfer(conn, rows):
    try:
        conn.write(rows)
    except:
        conn.rollback()
        raise
