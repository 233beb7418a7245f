"""Training: from a spec and the data scientist's ``fit`` function to a registered candidate."""
