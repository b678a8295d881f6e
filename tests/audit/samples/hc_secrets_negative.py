import os

PASSWORD_FIELD = "password"
TOKEN_HEADER = "Authorization"


def creds():
    token = os.environ["API_TOKEN"]
    password = ""
    secret = "<your-secret-here>"
    reset_token = "_password_reset_token"
    return token, password, secret, reset_token
