"""What operators use: health and readiness, metrics, the request log, the
classic commands (pserve, stop, status) and the client command line.

Kept apart from the conversion code: the server's modules only call
``cloudooo.ops.context.note()`` to say what a request did.
"""
