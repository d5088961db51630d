"""Background load for tests: a `with` block that starts a class's threads and, on leaving,
sets its `stop` event and joins them."""


class BackgroundThreads:
    """Subclasses set `self.threads` (not yet started) and `self.stop` (a threading.Event)."""

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
