"""The Plex metadata provider: the HTTP service Plex (>= 1.43) calls to match a file and fetch its metadata.

Shares the plugin's settings model, path mapping, metadata shaping and Stash client; nothing here is
imported by the plugin, and the plugin's push machinery is not imported here (tests/test_architecture.py).
"""
