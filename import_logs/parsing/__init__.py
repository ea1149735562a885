"""From a line to a Hit: format definitions (``formats``), detection (``detect``), the W3C family (``w3c``), the
split fast path (``split_path``), the generated line parser (``hit``) and timestamps read without the locale
(``timeparse``)."""
