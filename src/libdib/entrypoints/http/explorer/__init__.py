"""The explorer page's files (HTML, one script, one stylesheet), served by ``controllers/explorer.py``."""
