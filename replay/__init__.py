from .server import ReplayServer

__all__ = ["ReplayServer"]
