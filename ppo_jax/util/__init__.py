"""Small helpers every layer may use: argument checks (`checks`), vmap-aware batching (`batching`), files (`files`)."""
