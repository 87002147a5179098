"""Partner status pages: each community's incidents, timelines and Atom feed."""
