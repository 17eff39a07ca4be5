"""The notify tests use the peers of tests/notify_peers.py and the `db_url` fixture of tests/conftest.py."""
