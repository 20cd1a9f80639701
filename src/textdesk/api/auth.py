from django.utils import timezone
from ninja.security import HttpBearer

from textdesk.org.models import ApiToken


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        user = ApiToken.authenticate(token)
        if user is None:
            return None
        request.user = user
        ApiToken.objects.filter(token_hash=ApiToken.hash(token)).update(last_used_at=timezone.now())
        return user
