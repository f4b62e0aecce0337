"""``python -m mir_ref``."""

from mir_ref.cli import main

main()
