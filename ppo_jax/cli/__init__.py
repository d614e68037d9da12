"""The `ppo-jax` command line (`python -m ppo_jax`): `ppo_jax.cli.main.main`.

One module per subcommand (train, sweep, pbt, evaluate, plot), each with
`add_arguments(parser, argv)` and `run(args, argv)`; what they share (usage
errors, output folders, value and range parsers, flags generated from the
config dataclasses) is in `ppo_jax.cli.common`. This is the top layer: nothing
else in ppo_jax imports it.
"""
