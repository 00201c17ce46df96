"""Statistics layer: survival models, clustering and other general statistics shared by the methods."""
