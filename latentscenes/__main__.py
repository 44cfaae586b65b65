import sys

from latentscenes.cli.main import main

sys.exit(main())
