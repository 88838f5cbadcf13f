"""``python -m zixly_stack.cli``."""

from .main import main

main()
