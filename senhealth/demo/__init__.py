"""The synthetic province generator (synthetic data only)."""
