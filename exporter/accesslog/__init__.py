"""nginx access log reading: formats, tail, routes, aggregates, the five-minute window, the background reader."""
