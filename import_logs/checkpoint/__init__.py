"""Where each source stands for one destination: the state file (``state``), where a run starts reading each
source (``resume``), and which lines the server accepted (``ledger``, the only writer of a source's entry after
planning)."""
