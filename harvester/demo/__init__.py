"""The embedded demo: replay recorded portals locally, harvest them, publish to the local CKAN if it runs."""
