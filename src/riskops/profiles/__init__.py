"""Reference profiles: the frozen bins of a model version's features and score, fitted once at
registration, and the binning of rows against them (on the scoring path: numpy only)."""
