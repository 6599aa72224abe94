"""The REST API (Django REST framework, OpenAPI 3 by drf-spectacular): thin over the services the
pages use, with personal access tokens (users.api_tokens)."""
