"""FHIR operations (`$validate`, `$meta`, `$everything`, ...) and the registry domains add theirs to."""
