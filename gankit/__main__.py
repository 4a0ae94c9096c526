"""`python -m gankit` (also what torchrun launches)."""
from gankit.cli import main

main()
