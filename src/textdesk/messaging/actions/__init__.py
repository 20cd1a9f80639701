"""Every state change of text messaging goes through a function here that owns its transaction.

Side effects (live push, worker wake-ups) are registered with ``transaction.on_commit``.
"""
