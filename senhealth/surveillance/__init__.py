"""Notifiable-disease case reports, time series, outbreak detectors, alerts and maps."""
