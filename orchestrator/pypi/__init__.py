"""The package index: PEP 691 pages (``index``) behind an on-disk HTTP cache
(``httpcache``), the content-addressed download store (``downloads``), and the uv
binary (``uv``). Imports only the top-level vocabulary.
"""
