"""mimamori notify: message rendering, channels, outbox. Imports nothing of ours."""
