import sys

from reusebench.cli import main

sys.exit(main())
