"""``python -m bpsom``: the same as the ``bpsom`` command."""
from bpsom.cli.main import main

if __name__ == "__main__":
    main()
