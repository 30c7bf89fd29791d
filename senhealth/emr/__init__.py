"""Clinical documents, digital signatures, printing, retention and Vietnamese exchange formats."""
