"""Request formats: one codec per format, the registry each prediction route reads them by.

Nothing registers itself on import: ``registry.build_codecs`` lists every route's codecs.
"""
