from tests.support.service import live_service

__all__ = ["live_service"]
