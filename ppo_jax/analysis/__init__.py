"""Reading results: statistics (final return, bootstrap CIs, IQM) and tidy frames; and the
benchmark plumbing of the scripts (`benchmarking`: provenance, alternating timing, manifests)."""
