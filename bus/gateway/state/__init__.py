"""The gateway's state seams: capacity, calls in flight, result cache.

Each is an async interface with an in-process implementation in ``memory``; a
cross-process implementation fills the same interface (the result cache's:
``redis_results``).
"""
