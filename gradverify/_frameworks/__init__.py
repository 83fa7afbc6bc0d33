"""Private plumbing shared by the framework adapters (:mod:`gradverify.torch`, :mod:`gradverify.jax`).

Nothing here imports torch or jax: the adapters convert tensors to numpy and
hand this package plain arrays and callables.
"""
