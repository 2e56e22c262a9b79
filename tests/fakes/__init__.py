"""In-memory stand-ins for the core's ports (services/recognition/gallery_port.py, ports.py), for
the fast ring: the gallery (gallery.py), held to PostgreSQL's behaviour by the shared cases in
tests/support/gallery_cases.py, and a vision queue that answers from a table (vision.py)."""
