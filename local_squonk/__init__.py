"""A small stand-in for the Squonk2 Data Manager that really runs jobs.

It speaks the subset of the Data Manager REST API that ``im-squonk2-client`` uses
(see CONTRACTS.md section 1). It is a separate service: it never imports ``app``.
"""

__version__ = "1.0.0"
