"""Privacy by design: subjects as keyed pseudonyms, personal values encrypted per subject, and
erasure by deleting the subject's key (crypto-shredding, GDPR Art. 17)."""
