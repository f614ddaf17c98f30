"""A fake Stash, a fake Plex Media Server and a Stash host, for tests, benchmarks and the demo."""
