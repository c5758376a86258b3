"""Calendar sync: one engine (``engine.py``), backends behind ``CalendarBackend`` (``backend.py``)."""
