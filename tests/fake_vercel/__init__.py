"""A local stand-in for the Vercel REST API's project environment endpoints."""
from .server import FakeVercel

__all__ = ["FakeVercel"]
