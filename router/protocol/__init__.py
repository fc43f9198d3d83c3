"""Wire-format translators: other client APIs to chat completions and back (pure functions, no I/O)."""
