"""Python helpers shared by the end-to-end tests (Tests/e2e), `make bench` (bench/run.py) and the
soak (scripts/soak): `stack` starts and stops a gateway stack, `checks` holds assertions the
tests share, `browser` is the headless Chromium page object."""
