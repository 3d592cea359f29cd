"""``python -m kmimg``."""

from kmimg.cli import main

main()
