# Knot DNS 3.2 from Debian 12, the version tests/integration/test_replication.py
# verifies as a catalog consumer of mailnsd. Config: knot.conf (mounted).
FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends knot \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o knot -g knot -m 0750 /var/lib/knot /run/knot
EXPOSE 53/udp 53/tcp
# knotd starts as root to bind port 53, then runs as knot (server.user).
CMD ["knotd", "-c", "/etc/knot/knot.conf"]
