"""Vendored Helm charts (data) and the script that refreshes them; see charts/vendor.py."""
