"""Zero configuration: find the Next.js apps and their nginx fronts on the host (see ``model``)."""
