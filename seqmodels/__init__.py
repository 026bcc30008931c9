"""seqmodels: recurrent sequence models done right."""

__version__ = "0.1.0"
