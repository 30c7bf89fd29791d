"""Population check-up campaigns, questionnaires, risk scores, chronic-disease registries, CDS Hooks."""
