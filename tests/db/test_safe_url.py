"""Database URLs in messages and logs: how the connection is made, never its passwords."""

from civicgrid.db.pool import _safe


def test_passwords_leave_the_url_and_tls_parameters_stay() -> None:
    url = (
        "postgresql://civicgrid:db-secret@db:5432/civicgrid"
        "?sslmode=verify-full&sslrootcert=/etc/civicgrid/ca.pem&sslpassword=key-secret"
    )
    shown = _safe(url)
    assert "db-secret" not in shown
    assert "key-secret" not in shown
    assert shown == (
        "postgresql://civicgrid@db:5432/civicgrid"
        "?sslmode=verify-full&sslrootcert=/etc/civicgrid/ca.pem&sslpassword=***"
    )
    assert _safe("postgresql://u:p@db/civicgrid") == "postgresql://u@db/civicgrid"
