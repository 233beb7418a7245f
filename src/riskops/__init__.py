"""riskops: an ML risk platform for regulated finance.

Importing the package does no I/O; the CLI (``riskops``) and the service functions in each
sub-package are the entry points.
"""

__version__ = "0.1.0"
