"""``python -m accelbench``."""

import sys

from accelbench.cli import main

sys.exit(main())
