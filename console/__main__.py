"""``python -m console`` is the ``distillery`` command."""

from __future__ import annotations

from console import main

if __name__ == "__main__":
    main()
