"""Oracle and mark prices (layer 1): the strategies that turn an index price and the order book into
the mark price every margin requirement, liquidation and funding payment is valued at.

* :mod:`ramparts.oracle.mark` the :class:`~ramparts.oracle.mark.MarkModel` strategies
  (:class:`~ramparts.oracle.mark.IndexMark`, :class:`~ramparts.oracle.mark.ClampedBasisEMAMark`)
  and their pure, integer :class:`~ramparts.oracle.mark.MarkState`.
"""
