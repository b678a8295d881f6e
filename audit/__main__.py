"""`python -m audit PATH ...`: scan and report without Django or a database."""

from audit.cli import main

raise SystemExit(main())
