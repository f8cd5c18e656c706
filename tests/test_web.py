"""Shared web behaviour (app/web.py, app/config.py): who may frame the pages, the embedded
layout, and the cookie settings cross-site embedding needs."""

from __future__ import annotations


def test_frame_ancestors_and_embed_layout(app, login, small_targets):
    session = login("member")
    page = session.get("/targets/Mac1/")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert 'class="site"' in page.text
    embedded = session.get("/targets/Mac1/?embed=1")
    assert 'class="site"' not in embedded.text and 'class="embed"' in embedded.text
    assert 'class="site"' not in session.get("/targets/").text  # stays embedded
    assert 'class="site"' in session.get("/targets/?embed=0").text


def test_cross_site_embedding_configuration(monkeypatch):
    from app.config import resolve

    given = {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"}
    monkeypatch.setenv("FRAME_ANCESTORS", "https://fragalysis.diamond.ac.uk")
    config = resolve(given)
    assert config["SESSION_COOKIE_SAMESITE"] == "None" and config["SESSION_COOKIE_SECURE"]
    monkeypatch.delenv("FRAME_ANCESTORS")
    assert resolve(given)["SESSION_COOKIE_SAMESITE"] == "Lax"
