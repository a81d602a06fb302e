"""Serving: model endpoints and the team namespaces they run in."""
