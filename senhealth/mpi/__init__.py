"""Master patient index: identifiers (CCCD, insurance number), name normalisation, matching, link and merge."""
