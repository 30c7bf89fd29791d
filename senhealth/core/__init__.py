"""Core services every layer may use: configuration, database pool and transactions, queue, errors, clock, i18n."""
