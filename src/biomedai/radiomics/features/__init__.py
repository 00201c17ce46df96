"""Feature classes with PyRadiomics' names and definitions, computed with vectorised numpy.

Each texture module has ``matrix(...)`` (the raw matrix, testable on tiny arrays) and
``features(...)`` (a dict of feature name to value).
"""
