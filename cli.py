"""Thin shim: `python cli.py ...` is `promptmgr ...`."""
from promptmgr.cli import main

if __name__ == "__main__":
    main()
