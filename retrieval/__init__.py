"""bulletin-qa retrieval: issue files in, quoted and attributed passages out."""

__version__ = "0.1.0"
