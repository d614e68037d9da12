"""Following a run from the host: the progress callback and bar (`progress`), loggers
(`loggers`) and agent names (`agents`)."""
