"""Statistics riskops computes itself, each with its formula and source in its docstring."""
