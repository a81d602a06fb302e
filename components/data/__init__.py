"""The ML data plane: the artifact store, the container registry, platform secrets and MLflow."""
