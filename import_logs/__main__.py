"""`python -m import_logs` runs the command line."""

from import_logs.cli import main

if __name__ == "__main__":
    main()
