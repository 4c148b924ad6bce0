"""``python -m distillery`` is the ``distillery`` command."""

from __future__ import annotations

from distillery.cli import main

if __name__ == "__main__":
    main()
