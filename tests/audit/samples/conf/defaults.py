BROKER = "amqp://guest@rabbit.internal:5672//"
PORT = 5672
