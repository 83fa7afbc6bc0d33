"""``python -m gradverify``: the same command as ``gradverify``."""

from .cli import main

raise SystemExit(main())
