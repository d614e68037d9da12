"""`python -m ppo_jax ...`: the `ppo-jax` command line (ppo_jax.cli.main)."""

import sys

from ppo_jax.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
