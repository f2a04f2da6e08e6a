import sys

from reusebench.glue.cli import main

sys.exit(main())
