"""Population-based training: state and plan (`state`), search spaces (`space`),
exploit/explore (`exploit`), the run (`run`) and its result (`result`)."""
