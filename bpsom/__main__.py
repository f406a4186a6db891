"""``python -m bpsom``: the same as the ``bpsom`` command."""
from bpsom.cli.main import entry

if __name__ == "__main__":
    entry()
