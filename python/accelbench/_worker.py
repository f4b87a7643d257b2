"""``python -m accelbench._worker``: the case worker under its older name (see measure.worker)."""

from __future__ import annotations

import sys

from accelbench.runner.worker import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
