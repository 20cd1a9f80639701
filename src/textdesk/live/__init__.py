"""Live updates: browsers (server-sent events) and workers are told when something changed."""
