"""Helpers every layer uses (tags, validation, Helm, Kubernetes conventions, IAM documents, pins).
Nothing here imports a component."""
