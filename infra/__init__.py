"""The platform program (composition from stack config) and its offline tooling (the ``blueprint`` CLI)."""
