"""The local dev loop: every service's Lambda handler behind one HTTP server on 127.0.0.1, no AWS needed."""
