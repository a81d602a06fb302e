"""Serving: model endpoints, the team namespaces they run in, and what may run there (Kyverno)."""
