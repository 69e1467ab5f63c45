"""Connectors: live posts from Bluesky, Mastodon servers and blogs' feeds, each handed
to the one door (``posts.service.ingest``) like every other post."""
