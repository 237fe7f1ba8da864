"""Cluster creation, one module per step."""
