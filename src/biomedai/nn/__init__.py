"""Reusable network blocks (plain ``torch.nn.Module``s with explicit constructor arguments).

Each block lives in its own module and is imported from there (``from biomedai.nn.<module> import X``),
so importing ``biomedai.nn`` stays free of torch.
"""
