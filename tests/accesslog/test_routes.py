"""Paths to route templates, and the cap on distinct routes per target."""

import pytest

from exporter.accesslog.routes import OTHER, RouteTable, template


@pytest.mark.parametrize("path, route", [
    ("/api/products/123", "/api/products/:id"),
    ("/api/products/123?include=stock", "/api/products/:id"),
    ("/api/orders/550e8400-e29b-41d4-a716-446655440000/items", "/api/orders/:uuid/items"),
    ("/_next/static/chunks/pages/index-3f2a9c1b2d4e5f60.js", "/_next/static/chunks/pages/index-:hash.js"),
    ("/_next/static/Zx8KpQ3mT1aB2cD4eF5gH/_buildManifest.js", "/_next/static/:hash/_buildManifest.js"),
    ("/_next/static/css/a1b2c3d4e5f6a7b8.css", "/_next/static/css/:hash.css"),
    ("/blob/0123456789abcdef0123", "/blob/:hash"),
    ("/", "/"),
    ("/products", "/products"),
    ("*", OTHER),
    ("/" + "a/" * 40, OTHER),
])
def test_paths_become_routes(path, route):
    assert template(path) == route


def test_distinct_routes_are_capped_and_the_rest_is_other():
    table = RouteTable(limit=3)
    assert [table.route(p) for p in ("/a", "/b/1", "/b/2", "/c", "/d", "/a")] == ["/a", "/b/:id", "/b/:id", "/c", OTHER, "/a"]
    assert len(table.known) == 3


def test_any_number_of_client_paths_stays_within_the_cap():
    table = RouteTable()
    routes = {table.route(f"/x{n}/y") for n in range(5000)}
    assert len(routes) == table.limit + 1 and OTHER in routes
