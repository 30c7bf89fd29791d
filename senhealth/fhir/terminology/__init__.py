"""Terminology: CodeSystem and ValueSet, `$lookup`, `$validate-code`, `$expand`, loaded code systems."""
