"""Publish committed stream frames to every process that serves streams."""

from backchannel.broker.base import Broker, FrameSink

__all__ = ["Broker", "FrameSink", "make_broker"]


def make_broker(redis_url: str, prefix: str) -> Broker:
    if redis_url:
        from backchannel.broker.redis import RedisBroker

        return RedisBroker(redis_url, prefix)
    from backchannel.broker.memory import MemoryBroker

    return MemoryBroker()
