"""The gateway's state seams: capacity, calls in flight, result cache.

Each is an async interface with an in-process implementation in ``memory``
(the result cache: on Django's cache, see ``results``); a cross-process
implementation fills the same interface.
"""
