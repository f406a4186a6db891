"""The `bpsom` command: wires readers, engines and writers together, nothing more."""
