"""Transaction-history features: each declared once in a spec's ``history`` section, computed
offline over a whole dataset for training (:mod:`.offline`, pandas/numpy) and online at decision
time from an online store of past transactions (:mod:`.online`, no pandas), with one rule for
which past transactions count (:mod:`.definitions`). See docs/history-features.md."""
