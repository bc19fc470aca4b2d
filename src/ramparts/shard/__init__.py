"""Shards of one venue: N engines each owning the accounts that hash to them, a fund shard, an ADL
coordinator, and a result equal to one engine's (issue 25, items 2 and 4; design in ``docs/scaling.md`` §2).

:mod:`ramparts.shard.cluster` owns the protocol, in process: the directory, the routing of the
journal's events, the links through which a shard reaches the accounts it does not own, the fund
shard's grants, the ADL coordinator's merge, the merge of effects and the clearing reconciler.
:mod:`ramparts.shard.bus` runs the same protocol with each shard a process on NATS (every cross-shard
call a request, the input from a JetStream stream); it imports ``nats-py``, so it is not imported here.
"""

from ramparts.shard.cluster import Cluster, Directory, MoveAccount, ShardDiverged, venue_view

__all__ = ["Cluster", "Directory", "MoveAccount", "ShardDiverged", "venue_view"]
