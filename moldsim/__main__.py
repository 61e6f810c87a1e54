"""`python -m moldsim` → the moldsim CLI."""

from moldsim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
