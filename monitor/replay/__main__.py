"""`python -m monitor.replay`: the same as `mimamori replay`."""

from monitor.replay.files import main

main()
