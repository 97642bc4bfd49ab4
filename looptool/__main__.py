import sys

from looptool.cli import main

sys.exit(main())
