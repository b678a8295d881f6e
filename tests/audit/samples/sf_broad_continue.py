def send_all(clients, message):
    for client in clients:
        try:
            client.send(message)
        except Exception:  # expect: AUD002
            continue
