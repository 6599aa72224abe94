"""The OpenAPI schema (/api/schema/) and its documentation page (/api/docs/)."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated

from api.auth import BearerTokenAuthentication


class SchemaView(SpectacularAPIView):
    """The schema for anyone signed in (the pages' session) or holding a token; 401 (with the
    Bearer realm, the first authentication class) for others."""

    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from the sidecar package's static files; its start script is a separate
    response (the split view), so the site's CSP needs no inline script. The page's own
    template has no inline style either (static/css/api-docs.css)."""

    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    template_name = "api/docs.html"
    url_name = "api-schema"
