"""`python -m liqtui` entry point."""

from liqtui.cli import main

raise SystemExit(main())
