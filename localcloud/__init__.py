"""The local cloud: emulators for the Google Cloud services that have none to install.

Development tools only; never bundled with the functions.
"""
