"""SQL-on-FHIR views, indicators, reports and exports."""
