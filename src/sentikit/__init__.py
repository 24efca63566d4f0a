"""sentikit: train, evaluate, score, serve, containerise and deploy a sentiment model.

Importing the package is cheap: heavy dependencies load only in the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
