"""The media proxy: images on walls come through this server, size-limited and cached.

Walls and pages show ``/media/SIGNATURE/URL`` instead of a remote server's image URL
(``links``), so a hall full of screens does not hot-link someone's small instance,
and a slow or vanished server does not leave holes in a wall that already showed its
images. The endpoint (``routes``) fetches each remote image once through the guarded
HTTP client (``service``), admits only real raster images (``sniff``), and keeps them
on disk (``cache``). The Mastodon client API keeps giving apps the original URLs.
"""
