from django.db import DatabaseError, connection
from django.http import JsonResponse


def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and orchestrators)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
