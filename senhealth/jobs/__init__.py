"""The background worker, its job registry and schedules."""
